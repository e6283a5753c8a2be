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

namespace cvmunlock::agent {

namespace {
using nlohmann::json;

json eventlog_json(const std::string& path, const engine::BootCheck& b) {
    json j{{"path", path}, {"present", true}};
    if (b.log_error) {
        j["error"] = b.log_error->message;
        // Missing, or there but unreadable or malformed.
        if (b.log_error->code == ErrorCode::Unavailable) {
            j["present"] = false;
        } else {
            j["ok"] = false;
        }
        return j;
    }
    if (b.check_error) {
        j["error"] = b.check_error->message;
        j["ok"] = false;
        return j;
    }
    if (!b.check) return j;  // no vTPM to compare with
    j["events"] = b.check->replayed.events;
    const Comparison& cmp = b.check->comparison;
    json mismatches = json::array();
    for (const auto& m : cmp.mismatches) {
        const std::string last = m.last_event ? describe_event(b.check->log, *m.last_event) : "no event";
        mismatches.push_back({{"bank", hash_alg_name(m.bank)}, {"pcr", m.pcr}, {"last_event", last}});
        journal::log(journal::Priority::Warning,
                     "event log does not explain the vTPM's " + std::string(hash_alg_name(m.bank)) + " PCR " +
                         std::to_string(m.pcr) + " (last logged event " + last + ")",
                     {{"phase", "eventlog"}, {"pcr", std::to_string(m.pcr)}, {"reason", "log-mismatch"}});
    }
    json not_in_log = json::array();
    for (HashAlg b2 : cmp.banks_not_in_log) not_in_log.push_back(hash_alg_name(b2));
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
    auto target = engine::tpm_target(o.tpm, {});
    engine::BootCheck b;
    if (target) {
        b = engine::boot_check(o.eventlog, *target);
    } else {
        b.tpm_error = target.error();
    }
    const bool tpm_ok = !b.tpm_error;
    verdict["tpm"] = tpm_ok ? json{{"available", true}} : json{{"available", false}, {"error", b.tpm_error->message}};
    if (!tpm_ok) {
        journal::log(journal::Priority::Warning, "no vTPM: " + b.tpm_error->message, {{"phase", "environment"}});
    }
    verdict["eventlog"] = eventlog_json(o.eventlog, b);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    verdict["duration_ms"] = ms;
    const bool log_ok = verdict["eventlog"].value("ok", false);
    const std::string summary = std::string(tpm_ok ? "vTPM present" : "no vTPM") + ", event log " +
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
