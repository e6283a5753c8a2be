// Sealing a secret to a PCR policy under the SRK, and unsealing it through a
// policy session salted with the SRK with response parameter encryption.
#pragma once

#include <vector>

#include "cvmunlock/secret.hpp"
#include "cvmunlock/tpm_policy.hpp"
#include "srk.hpp"

namespace cvmunlock::tpm {

struct SealedBlob {
    Bytes public_blob;   // marshaled TPM2B_PUBLIC
    Bytes private_blob;  // marshaled TPM2B_PRIVATE
};

// `auth` (may be empty) becomes the object's authValue; with it the object is
// not noDA and `policy` must include PolicyAuthValue.
Result<SealedBlob> seal(TpmContext& tpm, const Srk& srk, const SecretBuffer& data, ByteView policy,
                        const SecretBuffer& auth);

struct UnsealPolicy {
    HashAlg bank = HashAlg::Sha256;
    std::vector<std::uint32_t> pcrs;  // every PCR of the policy, ascending (lock PCR included)
    bool auth_value = false;          // PolicyAuthValue follows PolicyPCR
};

// Fails with PolicyRefused when the TPM's PCRs do not satisfy the policy, and
// with Tampered when the blob does not load under this SRK.
Result<SecretBuffer> unseal(TpmContext& tpm, const Srk& srk, const SealedBlob& blob, const UnsealPolicy& policy,
                            const SecretBuffer& auth);

// n bytes: TPM2_GetRandom output mixed with OpenSSL's RNG (SHA-256 based), so
// neither source alone decides the secret.
Result<SecretBuffer> random_secret(TpmContext& tpm, std::size_t n);

// The authPolicy digest stored in a marshaled TPM2B_PUBLIC.
Result<Bytes> object_policy(const Bytes& public_blob);

}  // namespace cvmunlock::tpm
