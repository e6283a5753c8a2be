// `cvmunlock lock` and `cvmunlock status`.
#include <cstdio>
#include <iostream>

#include "eventlog_load.hpp"
#include "exit_codes.hpp"
#include "status.hpp"
#include "tpm_options.hpp"

namespace cvmunlock::cli {

using nlohmann::json;

int run_lock(const TpmOptions& tpm_options, std::uint32_t pcr) {
    auto target = tpm_target(tpm_options);
    if (!target) return report_error("lock", target.error());
    if (auto r = engine::lock_boot(*target, pcr); !r) return report_error("lock", r.error());
    std::fprintf(stderr, "cvmunlock: locked: PCR %u extended; keys sealed to its boot value cannot be unsealed until reboot\n", pcr);
    return kExitOk;
}

namespace {
json token_json(const engine::TokenState& s) {
    const CvmToken& t = s.found.token;
    json pcrs = json::array();
    for (const auto& p : s.pcrs) {
        json j{{"pcr", p.pcr}, {"lock", p.lock}};
        if (p.enrolled) j["enrolled"] = to_hex(*p.enrolled);
        if (p.current) {
            j["current"] = to_hex(*p.current);
            j["matches"] = p.enrolled && *p.enrolled == *p.current;
        }
        pcrs.push_back(std::move(j));
    }
    json j{{"token", s.found.id}, {"keyslot", t.keyslot}, {"pcr_bank", hash_alg_name(t.pcr_bank)}, {"pcrs", pcrs},
           {"pin", t.pin.has_value()}, {"srk_name", to_hex(t.srk_name)}};
    if (s.srk_matches) j["srk_matches"] = *s.srk_matches;
    return j;
}

void print_token(const json& j) {
    std::printf("token %d -> keyslot %d: %s policy%s\n", j["token"].get<int>(), j["keyslot"].get<int>(),
                j["pcr_bank"].get<std::string>().c_str(), j["pin"].get<bool>() ? " + PIN" : "");
    if (j.contains("srk_matches")) std::printf("  SRK: %s\n", j["srk_matches"].get<bool>() ? "this vTPM's" : "a DIFFERENT vTPM's");
    for (const auto& p : j["pcrs"]) {
        const char* state = !p.contains("matches") ? "(no TPM)" : p["matches"].get<bool>() ? "matches" : "CHANGED";
        std::printf("  PCR %-2d%s %s %s\n", p["pcr"].get<int>(), p["lock"].get<bool>() ? " (lock)" : "", state,
                    p.value("current", p.value("enrolled", std::string())).c_str());
    }
}
}  // namespace

int run_status(const std::string& device, const TpmOptions& tpm_options, bool json_out) {
    auto target = tpm_target(tpm_options);
    if (!target) return report_error("status " + device, target.error());
    auto status = engine::volume_status(device, *target);
    if (!status) return report_error("status " + device, status.error());
    json list = json::array();
    for (const auto& t : status->tokens) list.push_back(token_json(t));
    if (json_out) {
        std::cout << json{{"device", device}, {"tpm", !status->tpm_error}, {"tokens", list}}.dump(2) << '\n';
    } else {
        if (list.empty()) std::printf("%s: no cvmunlock token\n", device.c_str());
        if (status->tpm_error) std::printf("(no TPM: %s)\n", status->tpm_error->message.c_str());
        for (const auto& j : list) print_token(j);
    }
    return kExitOk;
}

}  // namespace cvmunlock::cli
