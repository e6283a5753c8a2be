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

}  // namespace cvmunlock
