#include "eventlog_verify.hpp"

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "cvmunlock/event_decode.hpp"
#include "cvmunlock/pcr_json.hpp"
#include "eventlog_check.hpp"
#include "eventlog_load.hpp"
#include "exit_codes.hpp"
#include "output.hpp"
#include "tpm_options.hpp"

namespace cvmunlock::cli {

namespace {
constexpr const char* kWhat = "eventlog verify";

void print_text(const EventLog& log, const Comparison& cmp, const char* source) {
    for (const auto& m : cmp.mismatches) {
        const std::string bank(hash_alg_name(m.bank));
        if (m.reference.empty()) {
            std::printf("MISMATCH %s PCR %u: not present in the %s\n", bank.c_str(), m.pcr, source);
            continue;
        }
        std::printf("MISMATCH %s PCR %u: the log replays to %s, the %s has %s\n", bank.c_str(), m.pcr,
                    to_hex(m.replayed).c_str(), source, to_hex(m.reference).c_str());
        if (!m.last_event) {
            std::printf("  no event in the log extends PCR %u\n", m.pcr);
        } else {
            std::printf("  last event extended into PCR %u: %s (at byte offset %zu)\n", m.pcr,
                        describe_event(log, *m.last_event).c_str(), log.events[*m.last_event].offset);
        }
    }
    for (HashAlg b : cmp.banks_not_in_log) {
        std::printf("NOTE: the log records no %s digests: the %s's %s PCRs were compared with their reset values\n",
                    std::string(hash_alg_name(b)).c_str(), source, std::string(hash_alg_name(b)).c_str());
    }
    std::printf("%s: %zu PCRs compared in %zu banks, %zu mismatched\n", cmp.ok() ? "OK" : "FAILED", cmp.compared,
                cmp.banks.size(), cmp.mismatches.size());
}

}  // namespace

int run_verify(const EventLogOptions& opts) {
    begin_output(kWhat, opts.json);
    std::optional<std::set<std::uint32_t>> pcrs;
    if (!opts.pcrs.empty()) {
        pcrs = parse_pcr_list(opts.pcrs);
        if (!pcrs) return usage_error("--pcrs: \"" + opts.pcrs + "\" is not a list of PCRs 0..23 (e.g. 0,2,4,7)");
    }
    CompareOptions compare;
    compare.pcrs = pcrs;
    if (!opts.bank.empty()) {
        compare.bank = hash_alg_from_name(opts.bank);
        if (!compare.bank) return usage_error("--pcr-bank: unknown bank \"" + opts.bank + "\" (sha1, sha256, sha384, sha512, sm3_256)");
    }
    const char* source = opts.use_tpm ? "TPM" : "expected values";
    auto loaded = load_event_log(opts.log);
    if (!loaded) return report_error(kWhat, loaded.error());
    Result<engine::EventLogCheck> check = std::unexpected(Error());
    if (opts.use_tpm) {
        auto target = tpm_target(opts.tpm);
        if (!target) return report_error(kWhat, target.error());
        check = engine::check_event_log(std::move(*loaded), *target, compare);
    } else {
        auto reference = engine::load_expected_pcrs(opts.expected);
        if (!reference) return report_error(kWhat, reference.error());
        check = engine::check_event_log(std::move(*loaded), *reference, compare);
    }
    if (!check) return report_error(kWhat, check.error().context(opts.log));
    const EventLog& log = check->log;
    const Comparison& cmp = check->comparison;
    if (!opts.json) {
        print_text(log, cmp, source);
        return cmp.ok() ? kExitOk : kExitRefused;
    }
    OutJson doc = new_document();
    doc["eventlog"] = opts.log;
    doc["source"] = opts.use_tpm ? "tpm" : "expected";
    doc["comparison"] = engine::comparison_json(log, cmp);
    if (!cmp.ok()) engine::set_error(doc, kExitRefused, "log-mismatch", engine::comparison_summary(log, cmp, source));
    return finish(doc);
}

}  // namespace cvmunlock::cli
