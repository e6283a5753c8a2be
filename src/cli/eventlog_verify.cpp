#include "eventlog_verify.hpp"

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "../adapters/file/read_file.hpp"
#include "../adapters/tpm/tpm_context.hpp"
#include "cvmunlock/event_decode.hpp"
#include "cvmunlock/pcr_json.hpp"
#include "eventlog_load.hpp"
#include "exit_codes.hpp"

namespace cvmunlock::cli {

namespace {
using nlohmann::json;
constexpr const char* kWhat = "eventlog verify";

Result<PcrValues> reference_from_file(const std::string& path) {
    auto bytes = file::read_all(path, 16u << 20);
    if (!bytes) return std::unexpected(bytes.error());
    const std::string text(bytes->begin(), bytes->end());
    auto values = pcr_values_from_json(text);
    if (!values) return std::unexpected(values.error().context(path));
    return values;
}

Result<PcrValues> reference_from_tpm(const std::string& tcti_option, const ReplayResult& replayed,
                                     const std::optional<std::set<std::uint32_t>>& pcrs) {
    auto tpm = tpm::TpmContext::open(tpm::resolve_tcti(tcti_option));
    if (!tpm) return std::unexpected(tpm.error());
    PcrSelection selection;
    for (const auto& [alg, bank] : replayed.banks) {
        auto& sel = selection[alg];
        if (pcrs) {
            sel = *pcrs;
        } else {
            for (const auto& [pcr, value] : bank) sel.insert(pcr);
        }
    }
    return (*tpm)->read_pcrs(selection);
}

json event_brief(const EventLog& log, std::optional<std::size_t> index) {
    if (!index || *index >= log.events.size()) return nullptr;
    const Event& ev = log.events[*index];
    return json{{"index", *index},
                {"offset", ev.offset},
                {"type", event_type_name(ev.type)},
                {"summary", decode_event_data(ev).value("summary", std::string())}};
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
        json last = event_brief(log, m.last_event);
        if (last.is_null()) {
            std::printf("  no event in the log extends PCR %u\n", m.pcr);
        } else {
            std::printf("  last event extended into PCR %u: #%zu at offset %zu, %s: %s\n", m.pcr,
                        last["index"].get<std::size_t>(), last["offset"].get<std::size_t>(),
                        last["type"].get<std::string>().c_str(), last["summary"].get<std::string>().c_str());
        }
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
    json banks = json::array();
    for (HashAlg b : cmp.banks) banks.push_back(hash_alg_name(b));
    json untrusted = json::array();
    for (std::size_t i = 0; i < log.events.size(); ++i) {
        if (check_event_digest(log.events[i]) == DigestCheck::Mismatch) untrusted.push_back(i);
    }
    return json{{"ok", cmp.ok()},          {"source", source},         {"compared", cmp.compared},
                {"banks", banks},          {"mismatches", mismatches}, {"untrusted_events", untrusted}};
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
    auto log = load_event_log(opts.log);
    if (!log) return report_error(kWhat, log.error());
    auto replayed = replay_event_log(*log);
    if (!replayed) return report_error(kWhat, replayed.error().context(opts.log));

    auto reference = opts.use_tpm ? reference_from_tpm(opts.tpm, *replayed, pcrs) : reference_from_file(opts.expected);
    if (!reference) return report_error(kWhat, reference.error());
    const char* source = opts.use_tpm ? "TPM" : "expected values";

    auto cmp = compare_pcrs(*replayed, *reference, compare);
    if (!cmp) return report_error(kWhat, cmp.error());
    if (opts.json) {
        std::cout << result_json(*log, *cmp, source).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    } else {
        print_text(*log, *cmp, source);
    }
    return cmp->ok() ? kExitOk : kExitRefused;
}

}  // namespace cvmunlock::cli
