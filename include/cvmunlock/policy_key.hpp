// Signed PCR policies (`enroll --policy-key`, `cvmunlock sign-policy`,
// docs/updates.md): an RSA public key as the TPM sees it, and the signature
// file that admits one boot's PCR values.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cvmunlock/secret.hpp"
#include "cvmunlock/token.hpp"

namespace cvmunlock {

// An RSA public key (PEM, 2048..4096 bits) as a marshaled TPM2B_PUBLIC for
// TPM2_LoadExternal: RSASSA-SHA256 signing key, nameAlg sha256.
Result<Bytes> rsa_public_key_to_tpm(std::string_view pem);

// TPM name of an object from its marshaled TPM2B_PUBLIC: nameAlg || H(TPMT_PUBLIC).
Result<Bytes> tpm_object_name(ByteView public_blob);

// The digest a policy signature signs (TPM 2.0 Part 3, 23.16): aHash =
// SHA-256(approvedPolicy || policyRef), policyRef empty.
Result<Bytes> signed_policy_digest(ByteView approved_policy);

// One boot's PCR values signed with the key (PKCS#1 v1.5, SHA-256 of
// approved || policyRef): what `sign-policy` writes and unlock reads.
struct PolicySignature {
    HashAlg bank = HashAlg::Sha256;
    PcrBranch values;  // sealed PCRs and the lock PCR at its boot value
    Bytes key_name;    // tpm_object_name of the signing key's public part
    Bytes signature;
};
inline constexpr const char* kPolicySignatureType = "cvmunlock-policy-signature";

Result<PolicySignature> policy_signature_from_json(std::string_view text);
nlohmann::json policy_signature_to_json(const PolicySignature& s);

// Signs `values` with an RSA private key (PEM); the key's public part names it.
Result<PolicySignature> sign_policy(const SecretBuffer& private_pem, HashAlg bank, const PcrBranch& values);

}  // namespace cvmunlock
