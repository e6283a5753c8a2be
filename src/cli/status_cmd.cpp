// `cvmunlock lock` and `cvmunlock status`.
#include <cstdio>
#include <iostream>

#include "eventlog_load.hpp"
#include "exit_codes.hpp"
#include "output.hpp"
#include "status.hpp"
#include "tpm_options.hpp"

namespace cvmunlock::cli {

int run_lock(const TpmOptions& tpm_options, std::uint32_t pcr, bool json_out) {
    begin_output("lock", json_out);
    auto target = tpm_target(tpm_options);
    if (!target) return report_error("lock", target.error());
    if (auto r = engine::lock_boot(*target, pcr); !r) return report_error("lock", r.error());
    std::fprintf(stderr, "cvmunlock: locked: PCR %u extended; keys sealed to its boot value cannot be unsealed until reboot\n", pcr);
    if (json_out) {
        OutJson doc = new_document();
        doc["lock_pcr"] = pcr;
        return finish(doc);
    }
    return kExitOk;
}

namespace {
OutJson token_json(const engine::TokenState& s) {
    const CvmToken& t = s.found.token;
    const engine::TokenVerdict v = engine::token_verdict(s);
    OutJson values = OutJson::array();
    for (const auto& p : s.pcrs) {
        values.push_back(OutJson{{"pcr", p.pcr},
                                 {"is_lock_pcr", p.lock},
                                 {"enrolled", p.enrolled ? OutJson(to_hex(*p.enrolled)) : OutJson()},
                                 {"current", p.current ? OutJson(to_hex(*p.current)) : OutJson()},
                                 {"matches", p.enrolled && p.current ? OutJson(*p.enrolled == *p.current) : OutJson()}});
    }
    return OutJson{{"token", s.found.id},
                   {"keyslot", t.keyslot},
                   {"pcr_bank", hash_alg_name(t.pcr_bank)},
                   {"pcrs", t.pcrs},
                   {"lock_pcr", t.lock_pcr ? OutJson(*t.lock_pcr) : OutJson()},
                   {"pin", t.pin.has_value()},
                   {"srk_name", to_hex(t.srk_name)},
                   {"srk_matches", s.srk_matches ? OutJson(*s.srk_matches) : OutJson()},
                   {"locked", v.locked},
                   {"problem", v.problem ? OutJson(engine::reason_info(*v.problem).name) : OutJson()},
                   {"pcr_values", values}};
}

void print_token(const OutJson& j) {
    std::printf("token %d -> keyslot %d: %s policy%s\n", j["token"].get<int>(), j["keyslot"].get<int>(),
                j["pcr_bank"].get<std::string>().c_str(), j["pin"].get<bool>() ? " + PIN" : "");
    if (!j["srk_matches"].is_null()) {
        std::printf("  SRK: %s\n", j["srk_matches"].get<bool>() ? "this vTPM's" : "a DIFFERENT vTPM's");
    }
    for (const auto& p : j["pcr_values"]) {
        const bool lock = p["is_lock_pcr"].get<bool>();
        const char* state = p["matches"].is_null()   ? "(not read)"
                            : p["matches"].get<bool>() ? "matches"
                            : lock                   ? "extended: locked for this boot"
                                                     : "CHANGED";
        const OutJson& shown = p["current"].is_null() ? p["enrolled"] : p["current"];
        std::printf("  PCR %-2d%s %s %s\n", p["pcr"].get<int>(), lock ? " (lock)" : "", state,
                    shown.is_null() ? "" : shown.get<std::string>().c_str());
    }
}
}  // namespace

int run_status(const std::string& device, const TpmOptions& tpm_options, bool json_out) {
    begin_output("status", json_out);
    auto target = tpm_target(tpm_options);
    if (!target) return report_error("status " + device, target.error());
    auto status = engine::volume_status(device, *target);
    if (!status) return report_error("status " + device, status.error());
    OutJson list = OutJson::array();
    for (const auto& t : status->tokens) list.push_back(token_json(t));
    const auto refusal = engine::status_refusal(*status);
    if (json_out) {
        OutJson doc = new_document();
        doc["device"] = device;
        doc["tpm_error"] = status->tpm_error ? OutJson(status->tpm_error->message) : OutJson();
        doc["tokens"] = list;
        if (refusal) engine::set_error(doc, *refusal);
        return finish(doc);
    }
    for (const auto& j : list) print_token(j);
    if (refusal) {
        std::fprintf(stderr, "cvmunlock: status %s: %s\n", device.c_str(), refusal->summary().c_str());
        return engine::reason_info(refusal->reason).exit_code;
    }
    return kExitOk;
}

}  // namespace cvmunlock::cli
