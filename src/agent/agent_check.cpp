// `cvmunlock agent check`: once per boot, before cryptsetup, check the vTPM
// and the event log, and record the verdict in /run/cvmunlock/verdict.json.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "agent.hpp"
#include "agent_internal.hpp"
#include "exit_codes.hpp"
#include "output.hpp"
#include "tpm_options.hpp"
#include "cvmunlock/event_decode.hpp"
#include "eventlog_check.hpp"
#include "settings.hpp"
#include "journal/journal.hpp"

namespace cvmunlock::agent {

using engine::OutJson;

namespace {
void log_mismatches(const engine::EventLogCheck& check) {
    for (const auto& m : check.comparison.mismatches) {
        const std::string last = m.last_event ? describe_event(check.log, *m.last_event) : "no event";
        journal::log(journal::Priority::Warning,
                     "event log does not explain the vTPM's " + std::string(hash_alg_name(m.bank)) + " PCR " +
                         std::to_string(m.pcr) + " (last logged event " + last + ")",
                     {{"phase", "eventlog"}, {"pcr", std::to_string(m.pcr)}, {"reason", "log-mismatch"}});
    }
}

bool write_verdict(const OutJson& verdict) {
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
    cli::begin_output("agent check", o.json);
    const auto start = std::chrono::steady_clock::now();
    journal::notify("STATUS=Checking the vTPM and the measured-boot event log");
    // Bounded like every TPM use (engine/settings.hpp): a vTPM that hangs does not hang the boot.
    auto target = cli::tpm_target(o.tpm);
    engine::BootCheck b;
    if (target) {
        b = engine::boot_check(o.eventlog, *target);
    } else {
        b.tpm_error = target.error();
    }
    OutJson verdict = cli::new_document();
    verdict["tpm_error"] = b.tpm_error ? OutJson(b.tpm_error->message) : OutJson();
    verdict["eventlog"] = o.eventlog;
    verdict["eventlog_error"] = b.log_error     ? OutJson(b.log_error->message)
                                : b.check_error ? OutJson(b.check_error->message)
                                                : OutJson();
    verdict["event_count"] = b.check ? OutJson(b.check->replayed.events) : OutJson();
    verdict["comparison"] = b.check ? engine::comparison_json(b.check->log, b.check->comparison) : OutJson();

    // One verdict, in the order that explains most: no vTPM, no usable log, a log that does not match.
    std::string summary;
    if (b.tpm_error) {
        journal::log(journal::Priority::Warning, "no vTPM: " + b.tpm_error->message, {{"phase", "environment"}});
        engine::set_error(verdict, *b.tpm_error, cli::exit_code_for(*b.tpm_error));
        summary = "no vTPM";
    } else if (b.log_error || b.check_error) {
        const Error& e = b.log_error ? *b.log_error : *b.check_error;
        engine::set_error(verdict, e, cli::exit_code_for(e));
        summary = b.log_error && b.log_error->code == ErrorCode::Unavailable ? "vTPM present, event log missing"
                                                                             : "vTPM present, event log unusable";
    } else if (b.check) {
        log_mismatches(*b.check);
        const Comparison& cmp = b.check->comparison;
        if (!cmp.ok()) {
            engine::set_error(verdict, kExitRefused, "log-mismatch", engine::comparison_summary(b.check->log, cmp, "vTPM"));
        }
        summary = std::string("vTPM present, event log ") + (cmp.ok() ? "matches the vTPM" : "does NOT match the vTPM");
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    verdict["duration_ms"] = ms;
    const bool ok = verdict["ok"].get<bool>();
    journal::log(ok ? journal::Priority::Info : journal::Priority::Notice, "boot check: " + summary,
                 {{"phase", "check"}, {"duration_ms", std::to_string(ms)}});
    if (!write_verdict(verdict)) {
        journal::log(journal::Priority::Error, "cannot write " + std::string(kVerdictFile), {{"phase", "check"}});
    }
    journal::notify("READY=1\nSTATUS=" + summary);
    if (o.json) engine::print_json(verdict);
    if (!ok) std::fprintf(stderr, "cvmunlock: agent check: %s\n", verdict["error"]["message"].get<std::string>().c_str());
    return ok ? kExitOk : verdict["error"]["exit"].get<int>();
}

}  // namespace cvmunlock::agent
