// `cvmunlock agent check`: once per boot, before cryptsetup, check the vTPM
// and the event log, and record the verdict in /run/cvmunlock/verdict.json.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "agent.hpp"
#include "agent_internal.hpp"
#include "cvmunlock/event_decode.hpp"
#include "file/read_file.hpp"
#include "journal/journal.hpp"
#include "tpm/tpm_context.hpp"

namespace cvmunlock::agent {

namespace {
using nlohmann::json;

json check_eventlog(const std::string& path, tpm::TpmContext* tpm) {
    json j{{"path", path}, {"present", false}};
    auto bytes = file::read_all(path);
    if (!bytes) {
        j["error"] = bytes.error().message;
        return j;
    }
    j["present"] = true;
    auto log = parse_event_log(*bytes);
    if (!log) {
        j["error"] = log.error().message;
        j["ok"] = false;
        return j;
    }
    auto replayed = replay_event_log(*log);
    if (!replayed) {
        j["error"] = replayed.error().message;
        j["ok"] = false;
        return j;
    }
    j["events"] = replayed->events;
    if (tpm == nullptr) return j;
    PcrSelection sel;
    for (const auto& [alg, bank] : replayed->banks) {
        for (std::uint32_t pcr = 0; pcr < 8; ++pcr) sel[alg].insert(pcr);
        for (const auto& [pcr, v] : bank) sel[alg].insert(pcr);
    }
    auto current = tpm->read_pcrs(sel);
    if (!current) {
        j["error"] = current.error().message;
        return j;
    }
    auto cmp = compare_pcrs(*replayed, *current, {});
    if (!cmp) return j;
    json mismatches = json::array();
    for (const auto& m : cmp->mismatches) {
        std::string last = "no event";
        if (m.last_event) {
            const Event& ev = log->events[*m.last_event];
            last = "#" + std::to_string(*m.last_event) + " " + event_type_name(ev.type) + ": " +
                   decode_event_data(ev).value("summary", std::string());
        }
        mismatches.push_back({{"bank", hash_alg_name(m.bank)}, {"pcr", m.pcr}, {"last_event", last}});
        journal::log(journal::Priority::Warning,
                     "event log does not explain the vTPM's " + std::string(hash_alg_name(m.bank)) + " PCR " +
                         std::to_string(m.pcr) + " (last logged event " + last + ")",
                     {{"phase", "eventlog"}, {"pcr", std::to_string(m.pcr)}, {"reason", "log-mismatch"}});
    }
    j["ok"] = cmp->ok();
    j["compared"] = cmp->compared;
    j["mismatches"] = mismatches;
    return j;
}

bool write_verdict(const json& verdict) {
    ::mkdir(kRunDir, 0700);
    const std::string tmp = std::string(kVerdictFile) + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        if (!out) return false;
        out << verdict.dump(2) << '\n';
        if (!out) return false;
    }
    ::chmod(tmp.c_str(), 0600);
    return ::rename(tmp.c_str(), kVerdictFile) == 0;
}
}  // namespace

int run_check(const AgentOptions& o) {
    const auto start = std::chrono::steady_clock::now();
    journal::notify("STATUS=Checking the vTPM and the measured-boot event log");
    json verdict{{"version", 1}};
    auto tpm = tpm::TpmContext::open(tpm::resolve_tcti(o.tpm));
    verdict["tpm"] = tpm ? json{{"available", true}} : json{{"available", false}, {"error", tpm.error().message}};
    if (!tpm) {
        journal::log(journal::Priority::Warning, "no vTPM: " + tpm.error().message, {{"phase", "environment"}});
    }
    verdict["eventlog"] = check_eventlog(o.eventlog, tpm ? tpm->get() : nullptr);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    verdict["duration_ms"] = ms;
    const bool log_ok = verdict["eventlog"].value("ok", false);
    const std::string summary = std::string(tpm ? "vTPM present" : "no vTPM") + ", event log " +
                                (!verdict["eventlog"]["present"].get<bool>() ? "missing"
                                 : log_ok                                    ? "matches the vTPM"
                                                                             : "does NOT match the vTPM");
    journal::log(log_ok ? journal::Priority::Info : journal::Priority::Notice, "boot check: " + summary,
                 {{"phase", "check"}, {"duration_ms", std::to_string(ms)}});
    if (!write_verdict(verdict)) {
        journal::log(journal::Priority::Error, "cannot write " + std::string(kVerdictFile), {{"phase", "check"}});
    }
    journal::notify("READY=1\nSTATUS=" + summary);
    if (o.json) std::printf("%s\n", verdict.dump(2).c_str());
    return 0;
}

}  // namespace cvmunlock::agent
