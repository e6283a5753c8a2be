// `cvmunlock lock` and `cvmunlock status`.
#include <cstdio>
#include <iostream>

#include "eventlog_load.hpp"
#include "exit_codes.hpp"
#include "luks/volume.hpp"
#include "tpm/srk.hpp"
#include "tpm_options.hpp"
#include "unseal.hpp"

namespace cvmunlock::cli {

using nlohmann::json;

int run_lock(const TpmOptions& tpm_options, std::uint32_t pcr) {
    auto target = tpm_target(tpm_options);
    if (!target) return report_error("lock", target.error());
    auto tpm = tpm::TpmContext::open(target->tcti, target->limits);
    if (!tpm) return report_error("lock", tpm.error());
    auto banks = (*tpm)->allocated_banks();
    if (!banks) return report_error("lock", banks.error());
    const std::string measurement = engine::kLockMeasurement;
    const ByteView data(reinterpret_cast<const std::uint8_t*>(measurement.data()), measurement.size());
    std::vector<EventDigest> digests;
    for (HashAlg alg : *banks) {
        auto d = hash_bytes(alg, data);
        if (!d) return report_error("lock", d.error());
        digests.push_back({static_cast<std::uint16_t>(alg), std::move(*d)});
    }
    if (auto r = (*tpm)->extend(pcr, digests); !r) return report_error("lock", r.error());
    std::fprintf(stderr, "cvmunlock: locked: PCR %u extended; keys sealed to its boot value cannot be unsealed until reboot\n", pcr);
    return kExitOk;
}

namespace {
json token_status(const engine::FoundToken& f, tpm::TpmContext* tpm, const std::optional<Bytes>& srk_name) {
    const CvmToken& t = f.token;
    json pcrs = json::array();
    std::set<std::uint32_t> all(t.pcrs.begin(), t.pcrs.end());
    if (t.lock_pcr) all.insert(*t.lock_pcr);
    std::optional<PcrValues> current;
    if (tpm != nullptr) {
        if (auto c = tpm->read_pcrs({{t.pcr_bank, all}})) current = std::move(*c);
    }
    for (std::uint32_t pcr : all) {
        json p{{"pcr", pcr}, {"lock", t.lock_pcr == pcr}};
        auto enrolled = t.pcr_values.find(pcr);
        if (enrolled != t.pcr_values.end()) p["enrolled"] = to_hex(enrolled->second);
        if (current && (*current)[t.pcr_bank].contains(pcr)) {
            const Bytes& now = (*current)[t.pcr_bank][pcr];
            p["current"] = to_hex(now);
            p["matches"] = enrolled != t.pcr_values.end() && enrolled->second == now;
        }
        pcrs.push_back(std::move(p));
    }
    json j{{"token", f.id}, {"keyslot", t.keyslot}, {"pcr_bank", hash_alg_name(t.pcr_bank)}, {"pcrs", pcrs},
           {"pin", t.pin.has_value()}, {"srk_name", to_hex(t.srk_name)}};
    if (srk_name) j["srk_matches"] = *srk_name == t.srk_name;
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
    auto volume = luks::Volume::open(device);
    if (!volume) return report_error("status " + device, volume.error());
    auto text = volume->metadata_json();
    if (!text) return report_error("status " + device, text.error());
    auto tokens = engine::cvmunlock_tokens(nlohmann::json::parse(*text, nullptr, false));
    if (!tokens) return report_error("status " + device, tokens.error());
    auto tpm = tpm::TpmContext::open(target->tcti, target->limits);
    std::optional<Bytes> srk_name;
    if (tpm) {
        if (auto srk = tpm::load_srk(**tpm, false)) srk_name = srk->name;
    }
    json list = json::array();
    for (const auto& f : *tokens) list.push_back(token_status(f, tpm ? tpm->get() : nullptr, srk_name));
    if (json_out) {
        std::cout << json{{"device", device}, {"tpm", tpm.has_value()}, {"tokens", list}}.dump(2) << '\n';
    } else {
        if (list.empty()) std::printf("%s: no cvmunlock token\n", device.c_str());
        if (!tpm) std::printf("(no TPM: %s)\n", tpm.error().message.c_str());
        for (const auto& j : list) print_token(j);
    }
    return kExitOk;
}

}  // namespace cvmunlock::cli
