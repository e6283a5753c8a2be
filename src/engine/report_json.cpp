#include "report_json.hpp"

#include <cstdio>

#include "cvmunlock/event_decode.hpp"
#include "cvmunlock/snp_source.hpp"

namespace cvmunlock::engine {

OutJson json_document(std::string_view command) {
    // No command: the command line named none that exists (a usage error).
    return OutJson{{"version", kJsonVersion},
                   {"command", command.empty() ? OutJson() : OutJson(command)},
                   {"ok", true},
                   {"error", nullptr}};
}

void set_error(OutJson& doc, int exit_code, std::string_view code, const std::string& message) {
    doc["ok"] = false;
    doc["error"] = OutJson{{"exit", exit_code}, {"code", code}, {"message", message}};
}

void set_error(OutJson& doc, const Refusal& refusal) {
    const ReasonInfo& info = reason_info(refusal.reason);
    set_error(doc, info.exit_code, info.name, refusal.token ? "token " + std::to_string(*refusal.token) + ": " + refusal.message
                                                           : refusal.message);
}

void set_error(OutJson& doc, const Error& error, int exit_code) {
    set_error(doc, exit_code, error_code_name(error.code), error.message);
}

OutJson pcr_change_json(const PcrChange& c, HashAlg bank) {
    return OutJson{{"pcr", c.pcr},
                   {"is_lock_pcr", c.lock_pcr},
                   {"pcr_bank", hash_alg_name(bank)},
                   {"enrolled", to_hex(c.enrolled)},
                   {"current", to_hex(c.current)},
                   {"event", c.event_text.empty() ? OutJson() : OutJson(c.event_text)},
                   {"message", describe_change(c, bank)}};
}

OutJson event_ref_json(const EventLog& log, std::optional<std::size_t> index) {
    if (!index || *index >= log.events.size()) return nullptr;
    const Event& ev = log.events[*index];
    return OutJson{{"index", *index},
                   {"offset", ev.offset},
                   {"pcr", ev.pcr},
                   {"type_name", event_type_name(ev.type)},
                   {"description", describe_event(log, *index)}};
}

OutJson comparison_json(const EventLog& log, const Comparison& cmp) {
    OutJson mismatches = OutJson::array();
    for (const auto& m : cmp.mismatches) {
        mismatches.push_back(OutJson{{"pcr_bank", hash_alg_name(m.bank)},
                                     {"pcr", m.pcr},
                                     {"replayed", to_hex(m.replayed)},
                                     {"reference", m.reference.empty() ? OutJson() : OutJson(to_hex(m.reference))},
                                     {"last_event", event_ref_json(log, m.last_event)}});
    }
    OutJson banks = OutJson::array(), not_in_log = OutJson::array(), untrusted = OutJson::array();
    for (HashAlg b : cmp.banks) banks.push_back(hash_alg_name(b));
    for (HashAlg b : cmp.banks_not_in_log) not_in_log.push_back(hash_alg_name(b));
    for (std::size_t i = 0; i < log.events.size(); ++i) {
        if (check_event_digest(log.events[i]) == DigestCheck::Mismatch) untrusted.push_back(i);
    }
    return OutJson{{"matches", cmp.ok()},
                   {"compared", cmp.compared},
                   {"pcr_banks", banks},
                   {"pcr_banks_not_in_log", not_in_log},
                   {"mismatches", mismatches},
                   {"untrusted_events", untrusted}};
}

OutJson snp_verdict_json(const SnpVerdict& v) {
    OutJson refusals = OutJson::array();
    for (const auto& x : v.violations) refusals.push_back(OutJson{{"check", x.check}, {"detail", x.detail}});
    return OutJson{{"evidence", snp::evidence_kind_name(v.evidence)},
                   {"origin", v.origin},
                   {"product", snp::product_name(v.product)},
                   {"key", snp::cert_role_name(v.key_role)},
                   {"key_from", v.vcek_from.empty() ? OutJson() : OutJson(v.vcek_from)},
                   {"refusals", refusals},
                   {"azure_bound", v.azure_bound},
                   {"summary", v.summary}};
}

void print_json(const OutJson& doc) {
    const std::string text = doc.dump(2, ' ', false, OutJson::error_handler_t::replace);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputs("\n", stdout);
    std::fflush(stdout);
}

}  // namespace cvmunlock::engine
