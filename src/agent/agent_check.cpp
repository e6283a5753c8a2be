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
#include "eventlog_check.hpp"
#include "settings.hpp"
#include "journal/journal.hpp"
#include "tpm/tpm_context.hpp"

namespace cvmunlock::agent {

namespace {
using nlohmann::json;

json check_eventlog(const std::string& path, tpm::TpmContext* tpm) {
    json j{{"path", path}, {"present", false}};
    auto log = engine::load_event_log(path);
    if (!log) {
        j["error"] = log.error().message;
        if (log.error().code != ErrorCode::Unavailable) {  // there, but unreadable or malformed
            j["present"] = true;
            j["ok"] = false;
        }
        return j;
    }
    j["present"] = true;
    if (tpm == nullptr) return j;
    auto check = engine::check_event_log(std::move(*log), *tpm, {});
    if (!check) {
        j["error"] = check.error().message;
        j["ok"] = false;
        return j;
    }
    j["events"] = check->replayed.events;
    const Comparison& cmp = check->comparison;
    json mismatches = json::array();
    for (const auto& m : cmp.mismatches) {
        const std::string last = m.last_event ? describe_event(check->log, *m.last_event) : "no event";
        mismatches.push_back({{"bank", hash_alg_name(m.bank)}, {"pcr", m.pcr}, {"last_event", last}});
        journal::log(journal::Priority::Warning,
                     "event log does not explain the vTPM's " + std::string(hash_alg_name(m.bank)) + " PCR " +
                         std::to_string(m.pcr) + " (last logged event " + last + ")",
                     {{"phase", "eventlog"}, {"pcr", std::to_string(m.pcr)}, {"reason", "log-mismatch"}});
    }
    json not_in_log = json::array();
    for (HashAlg b : cmp.banks_not_in_log) not_in_log.push_back(hash_alg_name(b));
    j["ok"] = cmp.ok();
    j["compared"] = cmp.compared;
    j["mismatches"] = mismatches;
    j["banks_not_in_log"] = not_in_log;
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
    // Bounded like every TPM use (engine/settings.hpp): a vTPM that hangs does not hang the boot.
    auto limits = engine::tpm_limits({});
    auto tpm = limits ? tpm::TpmContext::open(tpm::resolve_tcti(o.tpm), *limits)
                      : Result<std::unique_ptr<tpm::TpmContext>>(std::unexpected(limits.error()));
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
