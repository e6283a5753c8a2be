#include "cvmunlock/tpm_policy.hpp"

#include <tss2/tss2_mu.h>

namespace cvmunlock {

namespace {
// TPM 2.0 Part 2, 6.5.2 TPM_CC.
constexpr std::uint32_t kCcPolicyPcr = 0x0000017F;
constexpr std::uint32_t kCcPolicyAuthValue = 0x0000016B;
constexpr std::uint32_t kCcPolicyOr = 0x00000171;
constexpr std::uint32_t kCcPolicyAuthorizeNv = 0x00000192;
constexpr std::uint32_t kCcPolicySecret = 0x00000151;
constexpr std::uint32_t kCcPolicyCommandCode = 0x0000016C;
constexpr std::uint32_t kCcPolicyAuthorize = 0x0000016A;
constexpr std::size_t kMaxOrBranches = 8;  // TPM 2.0 Part 2, 10.9.2: TPML_DIGEST in PolicyOR
constexpr std::uint8_t kSizeofSelect = 3;  // PC Client: 24 PCRs

void append_be32(Bytes& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}
}  // namespace

Bytes policy_initial(HashAlg policy_alg) { return Bytes(hash_alg_size(policy_alg), 0); }

Bytes marshal_pcr_selection(const std::vector<PcrBankValues>& banks) {
    TPML_PCR_SELECTION sel{};
    for (const auto& b : banks) {
        if (sel.count >= TPM2_NUM_PCR_BANKS) break;
        auto& s = sel.pcrSelections[sel.count++];
        s.hash = static_cast<TPMI_ALG_HASH>(b.bank);
        s.sizeofSelect = kSizeofSelect;
        for (const auto& [pcr, value] : b.values) {
            if (pcr < 8u * kSizeofSelect) s.pcrSelect[pcr / 8] |= static_cast<BYTE>(1u << (pcr % 8));
        }
    }
    Bytes out(sizeof(TPML_PCR_SELECTION));
    size_t offset = 0;
    if (Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, out.data(), out.size(), &offset) != TSS2_RC_SUCCESS) return {};
    out.resize(offset);
    return out;
}

Result<Bytes> policy_pcr(HashAlg policy_alg, ByteView policy_digest, const std::vector<PcrBankValues>& banks) {
    Bytes values;
    for (const auto& b : banks) {
        for (const auto& [pcr, value] : b.values) {
            if (value.size() != hash_alg_size(b.bank)) {
                return fail(ErrorCode::InvalidInput, "PCR " + std::to_string(pcr) + " value for " +
                                                         std::string(hash_alg_name(b.bank)) + " has the wrong size");
            }
            values.insert(values.end(), value.begin(), value.end());
        }
    }
    auto pcr_digest = hash_bytes(policy_alg, values);
    if (!pcr_digest) return std::unexpected(pcr_digest.error());
    Bytes input(policy_digest.begin(), policy_digest.end());
    append_be32(input, kCcPolicyPcr);
    const Bytes sel = marshal_pcr_selection(banks);
    input.insert(input.end(), sel.begin(), sel.end());
    input.insert(input.end(), pcr_digest->begin(), pcr_digest->end());
    return hash_bytes(policy_alg, input);
}

Result<Bytes> policy_auth_value(HashAlg policy_alg, ByteView policy_digest) {
    Bytes input(policy_digest.begin(), policy_digest.end());
    append_be32(input, kCcPolicyAuthValue);
    return hash_bytes(policy_alg, input);
}

Result<Bytes> policy_or(HashAlg policy_alg, const std::vector<Bytes>& branches) {
    if (branches.size() < 2 || branches.size() > kMaxOrBranches) {
        return fail(ErrorCode::InvalidInput, "TPM2_PolicyOR takes 2 to 8 branches, not " + std::to_string(branches.size()));
    }
    Bytes input = policy_initial(policy_alg);
    append_be32(input, kCcPolicyOr);
    for (const auto& b : branches) {
        if (b.size() != hash_alg_size(policy_alg)) return fail(ErrorCode::InvalidInput, "PolicyOR branch of the wrong size");
        input.insert(input.end(), b.begin(), b.end());
    }
    return hash_bytes(policy_alg, input);
}

Result<Bytes> policy_authorize_nv(HashAlg policy_alg, ByteView nv_index_name) {
    Bytes input = policy_initial(policy_alg);
    append_be32(input, kCcPolicyAuthorizeNv);
    input.insert(input.end(), nv_index_name.begin(), nv_index_name.end());
    return hash_bytes(policy_alg, input);
}

Result<Bytes> policy_secret(HashAlg policy_alg, ByteView policy_digest, ByteView auth_name) {
    Bytes input(policy_digest.begin(), policy_digest.end());
    append_be32(input, kCcPolicySecret);
    input.insert(input.end(), auth_name.begin(), auth_name.end());
    auto inner = hash_bytes(policy_alg, input);
    if (!inner) return inner;
    return hash_bytes(policy_alg, *inner);  // || policyRef (empty)
}

Result<Bytes> policy_authorize(HashAlg policy_alg, ByteView key_name, ByteView policy_ref) {
    Bytes input = policy_initial(policy_alg);
    append_be32(input, kCcPolicyAuthorize);
    input.insert(input.end(), key_name.begin(), key_name.end());
    auto inner = hash_bytes(policy_alg, input);
    if (!inner) return inner;
    Bytes outer = *inner;
    outer.insert(outer.end(), policy_ref.begin(), policy_ref.end());
    return hash_bytes(policy_alg, outer);
}

Result<Bytes> policy_command_code(HashAlg policy_alg, ByteView policy_digest, std::uint32_t code) {
    Bytes input(policy_digest.begin(), policy_digest.end());
    append_be32(input, kCcPolicyCommandCode);
    append_be32(input, code);
    return hash_bytes(policy_alg, input);
}

Bytes marshal_tpmt_ha(HashAlg alg, ByteView digest) {
    const auto id = static_cast<std::uint16_t>(alg);
    Bytes out{static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id & 0xFF)};
    out.insert(out.end(), digest.begin(), digest.end());
    return out;
}

}  // namespace cvmunlock
