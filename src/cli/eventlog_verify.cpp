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
#include "tpm_options.hpp"

namespace cvmunlock::cli {

namespace {
using nlohmann::json;
constexpr const char* kWhat = "eventlog verify";

json event_brief(const EventLog& log, std::optional<std::size_t> index) {
    if (!index || *index >= log.events.size()) return nullptr;
    const Event& ev = log.events[*index];
    return json{{"index", *index},
                {"offset", ev.offset},
                {"type", event_type_name(ev.type)},
                {"summary", decode_event_data(ev).value("summary", std::string())},
                {"description", describe_event(log, *index)}};
}

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

json result_json(const EventLog& log, const Comparison& cmp, const char* source) {
    json mismatches = json::array();
    for (const auto& m : cmp.mismatches) {
        mismatches.push_back(json{{"bank", hash_alg_name(m.bank)},
                                  {"pcr", m.pcr},
                                  {"replayed", to_hex(m.replayed)},
                                  {"reference", m.reference.empty() ? json(nullptr) : json(to_hex(m.reference))},
                                  {"last_event", event_brief(log, m.last_event)}});
    }
    json banks = json::array(), not_in_log = json::array();
    for (HashAlg b : cmp.banks) banks.push_back(hash_alg_name(b));
    for (HashAlg b : cmp.banks_not_in_log) not_in_log.push_back(hash_alg_name(b));
    json untrusted = json::array();
    for (std::size_t i = 0; i < log.events.size(); ++i) {
        if (check_event_digest(log.events[i]) == DigestCheck::Mismatch) untrusted.push_back(i);
    }
    return json{{"ok", cmp.ok()},          {"source", source},         {"compared", cmp.compared},
                {"banks", banks},          {"banks_not_in_log", not_in_log},
                {"mismatches", mismatches}, {"untrusted_events", untrusted}};
}
}  // namespace

int run_verify(const EventLogOptions& opts) {
    std::optional<std::set<std::uint32_t>> pcrs;
    if (!opts.pcrs.empty()) {
        pcrs = parse_pcr_list(opts.pcrs);
        if (!pcrs) {
            std::fprintf(stderr, "cvmunlock: %s: --pcrs: \"%s\" is not a list of PCRs 0..23 (e.g. 0,2,4,7)\n", kWhat,
                         opts.pcrs.c_str());
            return kExitUsage;
        }
    }
    CompareOptions compare;
    compare.pcrs = pcrs;
    if (!opts.bank.empty()) {
        compare.bank = hash_alg_from_name(opts.bank);
        if (!compare.bank) {
            std::fprintf(stderr, "cvmunlock: %s: --bank: unknown bank \"%s\"\n", kWhat, opts.bank.c_str());
            return kExitUsage;
        }
    }
    const char* source = opts.use_tpm ? "TPM" : "expected values";
    auto loaded = load_event_log(opts.log);
    if (!loaded) return report_error(kWhat, loaded.error());
    Result<engine::EventLogCheck> check = std::unexpected(Error());
    if (opts.use_tpm) {
        auto target = tpm_target(TpmOptions{opts.tpm, {}, {}});
        if (!target) return report_error(kWhat, target.error());
        check = engine::check_event_log(std::move(*loaded), *target, compare);
    } else {
        auto reference = engine::load_expected_pcrs(opts.expected);
        if (!reference) return report_error(kWhat, reference.error());
        check = engine::check_event_log(std::move(*loaded), *reference, compare);
    }
    if (!check) return report_error(kWhat, check.error().context(opts.log));
    const EventLog& log = check->log;
    const Comparison* cmp = &check->comparison;
    if (opts.json) {
        std::cout << result_json(log, *cmp, source).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    } else {
        print_text(log, *cmp, source);
    }
    return cmp->ok() ? kExitOk : kExitRefused;
}

}  // namespace cvmunlock::cli
