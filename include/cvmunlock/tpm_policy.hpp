// TPM 2.0 policy digests computed in software (TPM 2.0 Part 3, 23.7
// TPM2_PolicyPCR and 23.18 TPM2_PolicyAuthValue), so an image builder can
// enroll for PCR values that are not current, and so the sealed object's
// policy can be checked against the token.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/hash.hpp"

namespace cvmunlock {

// Expected values of the selected PCRs of one bank.
struct PcrBankValues {
    HashAlg bank = HashAlg::Sha256;
    std::map<std::uint32_t, Bytes> values;
};

// Marshaled TPML_PCR_SELECTION (TPM 2.0 Part 2, 10.9.7) with sizeofSelect 3.
Bytes marshal_pcr_selection(const std::vector<PcrBankValues>& banks);

// policyDigest' = H(policyDigest || TPM_CC_PolicyPCR || pcrs || H(values in selection order)).
Result<Bytes> policy_pcr(HashAlg policy_alg, ByteView policy_digest, const std::vector<PcrBankValues>& banks);

// policyDigest' = H(policyDigest || TPM_CC_PolicyAuthValue).
Result<Bytes> policy_auth_value(HashAlg policy_alg, ByteView policy_digest);

// The all-zero starting digest of a policy session.
Bytes policy_initial(HashAlg policy_alg);

// TPM 2.0 Part 3, 23.6 TPM2_PolicyOR: the session digest must be one of
// `branches` (2..8 digests of the policy algorithm); then
// policyDigest' = H(zero digest || TPM_CC_PolicyOR || branches concatenated).
Result<Bytes> policy_or(HashAlg policy_alg, const std::vector<Bytes>& branches);

// TPM 2.0 Part 3, 23.22 TPM2_PolicyAuthorizeNV: the session digest must equal
// the policy in the NV index; then
// policyDigest' = H(zero digest || TPM_CC_PolicyAuthorizeNV || nvIndexName).
Result<Bytes> policy_authorize_nv(HashAlg policy_alg, ByteView nv_index_name);

// TPM 2.0 Part 3, 23.4 TPM2_PolicySecret with an empty policyRef:
// policyDigest' = H(H(policyDigest || TPM_CC_PolicySecret || authName) || "").
Result<Bytes> policy_secret(HashAlg policy_alg, ByteView policy_digest, ByteView auth_name);

// TPM 2.0 Part 3, 23.11 TPM2_PolicyCommandCode:
// policyDigest' = H(policyDigest || TPM_CC_PolicyCommandCode || code).
Result<Bytes> policy_command_code(HashAlg policy_alg, ByteView policy_digest, std::uint32_t code);

// TPM 2.0 Part 3, 23.16 TPM2_PolicyAuthorize: the session digest must be a
// policy the key signed; then, from the zero digest,
// policyDigest' = H(H(zero || TPM_CC_PolicyAuthorize || keyName) || policyRef).
Result<Bytes> policy_authorize(HashAlg policy_alg, ByteView key_name, ByteView policy_ref);

// TPM 2.0 Part 2, 6.5.2: the command a PolicyCommandCode in the policy index's write policy names.
inline constexpr std::uint32_t kCcNvWrite = 0x00000137;

// What an NV index holds for TPM2_PolicyAuthorizeNV: a marshaled TPMT_HA
// (TPM 2.0 Part 2, 10.3.2: hashAlg, then the digest).
Bytes marshal_tpmt_ha(HashAlg alg, ByteView digest);

}  // namespace cvmunlock
