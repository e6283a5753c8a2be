#include "status.hpp"

#include "luks/volume.hpp"
#include "tpm/srk.hpp"

namespace cvmunlock::engine {

Result<VolumeStatus> volume_status(const std::string& device, const TpmTarget& target) {
    auto volume = luks::Volume::open(device);
    if (!volume) return std::unexpected(volume.error());
    auto text = volume->metadata_json();
    if (!text) return std::unexpected(text.error());
    auto tokens = cvmunlock_tokens(nlohmann::json::parse(*text, nullptr, false));
    if (!tokens) return std::unexpected(tokens.error());
    VolumeStatus out;
    auto tpm = tpm::TpmContext::open(target.tcti, target.limits);
    if (!tpm) out.tpm_error = tpm.error();
    std::optional<Bytes> srk_name;
    if (tpm) {
        if (auto srk = tpm::load_srk(**tpm, false)) srk_name = srk->name;
    }
    for (auto& f : *tokens) {
        TokenState state;
        const CvmToken& t = f.token;
        std::set<std::uint32_t> all(t.pcrs.begin(), t.pcrs.end());
        if (t.lock_pcr) all.insert(*t.lock_pcr);
        std::optional<PcrValues> current;
        if (tpm) {
            if (auto c = (*tpm)->read_pcrs({{t.pcr_bank, all}})) current = std::move(*c);
        }
        for (std::uint32_t pcr : all) {
            PcrState p{pcr, t.lock_pcr == pcr, std::nullopt, std::nullopt};
            if (auto e = t.pcr_values.find(pcr); e != t.pcr_values.end()) p.enrolled = e->second;
            if (current && (*current)[t.pcr_bank].contains(pcr)) p.current = (*current)[t.pcr_bank][pcr];
            state.pcrs.push_back(std::move(p));
        }
        if (srk_name) state.srk_matches = *srk_name == t.srk_name;
        state.found = std::move(f);
        out.tokens.push_back(std::move(state));
    }
    return out;
}

Result<void> lock_boot(const TpmTarget& target, std::uint32_t pcr) {
    auto tpm = tpm::TpmContext::open(target.tcti, target.limits);
    if (!tpm) return std::unexpected(tpm.error());
    auto banks = (*tpm)->allocated_banks();
    if (!banks) return std::unexpected(banks.error());
    const std::string measurement = kLockMeasurement;
    const ByteView data(reinterpret_cast<const std::uint8_t*>(measurement.data()), measurement.size());
    std::vector<EventDigest> digests;
    for (HashAlg alg : *banks) {
        auto d = hash_bytes(alg, data);
        if (!d) return std::unexpected(d.error());
        digests.push_back({static_cast<std::uint16_t>(alg), std::move(*d)});
    }
    return (*tpm)->extend(pcr, digests);
}

}  // namespace cvmunlock::engine
