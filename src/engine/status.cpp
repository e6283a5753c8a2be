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
        if (tpm && !out.tpm_error) {
            auto c = (*tpm)->read_pcrs({{t.pcr_bank, all}});
            if (c) {
                current = std::move(*c);
            } else {
                out.tpm_error = c.error();  // e.g. the vTPM stopped answering
            }
        }
        for (std::uint32_t pcr : all) {
            PcrState p{pcr, t.lock_pcr == pcr, std::nullopt, std::nullopt};
            if (auto e = t.pcr_values.find(pcr); e != t.pcr_values.end()) p.enrolled = e->second;
            if (current && (*current)[t.pcr_bank].contains(pcr)) p.current = (*current)[t.pcr_bank][pcr];
            state.pcrs.push_back(std::move(p));
        }
        if (current) state.changes = explain_refusal(t, *current, nullptr);
        if (srk_name) state.srk_matches = *srk_name == t.srk_name;
        state.found = std::move(f);
        out.tokens.push_back(std::move(state));
    }
    return out;
}

TokenVerdict token_verdict(const TokenState& s) {
    TokenVerdict v;
    for (const PcrChange& c : s.changes ? *s.changes : std::vector<PcrChange>{}) {
        if (c.lock_pcr) {
            v.locked = true;
        } else {
            v.changed.push_back(c.pcr);
        }
    }
    const std::string bank(hash_alg_name(s.found.token.pcr_bank));
    if (s.srk_matches && !*s.srk_matches) {
        v.problem = Reason::SrkMismatch;
        v.message = "sealed under another vTPM's storage root key (a different or reset vTPM)";
    } else if (!v.changed.empty()) {
        v.problem = Reason::PcrChanged;
        std::string list;
        for (auto pcr : v.changed) list += (list.empty() ? "" : ", ") + std::to_string(pcr);
        v.message = bank + " PCR" + (v.changed.size() > 1 ? "s " : " ") + list + " changed since enrollment";
    } else if (!s.changes || !s.srk_matches) {
        v.problem = Reason::Unavailable;
        v.message = "the vTPM's PCRs could not be read";
    }
    return v;
}

std::optional<Refusal> status_refusal(const VolumeStatus& status) {
    if (status.tokens.empty()) return most_relevant({});
    if (status.tpm_error) return refusal_from(*status.tpm_error, Reason::Unavailable);
    for (const auto& t : status.tokens) {
        TokenVerdict v = token_verdict(t);
        if (!v.problem) continue;
        Refusal r;
        r.reason = *v.problem;
        r.token = t.found.id;
        r.message = v.message;
        return r;
    }
    return std::nullopt;
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
