// Sealing a secret to a PCR policy under the SRK, and unsealing it through a
// policy session salted with the SRK with response parameter encryption.
#pragma once

#include <optional>
#include <vector>

#include "cvmunlock/secret.hpp"
#include "cvmunlock/tpm_policy.hpp"
#include "srk.hpp"

namespace cvmunlock::tpm {

struct SealedBlob {
    Bytes public_blob;   // marshaled TPM2B_PUBLIC
    Bytes private_blob;  // marshaled TPM2B_PRIVATE
};

// TPM2_Create under the SRK through a salted session with parameter encryption.
Result<SealedBlob> create_object(TpmContext& tpm, const Srk& srk, const TPM2B_SENSITIVE_CREATE& sensitive,
                                 const TPM2B_PUBLIC& in_public);
// TPM2_Load under the SRK: Tampered when the blob does not load (another SRK, altered bytes).
Result<ObjectHandle> load_object(TpmContext& tpm, const Srk& srk, const SealedBlob& blob);

// `auth` (may be empty) becomes the object's authValue; with one, `policy`
// must include PolicyAuthValue. The object is noDA unless
// `dictionary_attack_protected` (TPM 2.0 Part 1, 19.8.1): only a PIN needs the
// lockout, whereas an authValue that merely binds host-writable requirements
// must not let the host lock the vTPM out by tampering repeatedly.
Result<SealedBlob> seal(TpmContext& tpm, const Srk& srk, const SecretBuffer& data, ByteView policy,
                        const SecretBuffer& auth, bool dictionary_attack_protected);

struct PolicyIndexRef {
    std::uint32_t index = 0;
    Bytes name;  // the index's name the object's policy names
};

struct SignedPolicyRef {
    Bytes key_public;  // marshaled TPM2B_PUBLIC of the signing key
    Bytes approved;    // the PolicyPCR digest it signed
    Bytes signature;   // RSASSA-SHA256 over SHA-256(approved)
};

struct UnsealPolicy {
    HashAlg bank = HashAlg::Sha256;
    std::vector<std::uint32_t> pcrs;  // every PCR of the policy, ascending (lock PCR included)
    std::vector<Bytes> or_branches;   // 2..8: PolicyOR over them follows PolicyPCR
    std::optional<PolicyIndexRef> nv; // PolicyAuthorizeNV on this index follows
    std::optional<SignedPolicyRef> signed_policy;  // or PolicyAuthorize with this signature
    bool auth_value = false;          // PolicyAuthValue comes last
};

// Fails with PolicyRefused when the TPM's PCRs do not satisfy the policy or
// when it refuses `auth` (is_auth_failure of the error's native code tells
// which; the caller knows what the authValue stands for), and with Tampered
// when the blob does not load under this SRK. A transient SRK is flushed as
// soon as the session is salted and the object loaded: through a resource
// manager (/dev/tpmrm0) every later command would otherwise reload and save it.
Result<SecretBuffer> unseal(TpmContext& tpm, Srk& srk, const SealedBlob& blob, const UnsealPolicy& policy,
                            const SecretBuffer& auth);

// TPM_RC_AUTH_FAIL or TPM_RC_BAD_AUTH (TPM 2.0 Part 2, 6.6.3): the TPM refused the object's authValue.
bool is_auth_failure(std::int64_t tss_rc);

// n bytes: TPM2_GetRandom output mixed with OpenSSL's RNG (SHA-256 based), so
// neither source alone decides the secret.
Result<SecretBuffer> random_secret(TpmContext& tpm, std::size_t n);

// The authPolicy digest stored in a marshaled TPM2B_PUBLIC.
Result<Bytes> object_policy(const Bytes& public_blob);

}  // namespace cvmunlock::tpm
