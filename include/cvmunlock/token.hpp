// The cvmunlock LUKS2 token (docs/token-format.md): versioned, compact JSON,
// strictly validated. Everything in it is host-writable and therefore only a
// hint: the TPM enforces the policy and the sealed data carries the volume-key pin.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cvmunlock/hash.hpp"
#include "cvmunlock/snp_policy.hpp"
#include "cvmunlock/snp_source.hpp"

namespace cvmunlock {

inline constexpr const char* kTokenType = "cvmunlock";
// Version written by enroll. 2: the sealed pin binds the volume key's LUKS2
// digest (digest_pin), so the token plugin checks the binding without opening
// the keyslot; 1 (still read and unlocked): the pin binds the volume key itself.
inline constexpr int kTokenVersion = 2;
inline constexpr int kOldestTokenVersion = 1;

struct PinKdf {
    std::uint32_t iterations = 0;  // PBKDF2-HMAC-SHA256
    Bytes salt;                    // 16 bytes
};

// Set by `enroll --snp require`: the SEV-SNP evidence must verify and satisfy
// the policy before anything is unsealed. Host-writable like the rest of the
// token, so removing or relaxing it is the attack to mind: its canonical form
// (token_requirements) is bound into the sealed object's authValue, so the TPM
// refuses to unseal with an altered one, and into the sealed volume-key pin.
struct SnpRequirement {
    snp::EvidenceKind evidence = snp::EvidenceKind::Auto;
    snp::Policy policy;
    Bytes vcek;  // DER of the VCEK seen at enrollment (empty when a VLEK signs or none was known)
};

// Set by `enroll --nv-policy`: the sealed object's policy is
// TPM2_PolicyAuthorizeNV on a vTPM NV index that holds the PCR policy, so a
// new boot's PCR values can be authorized later by an NV write, without
// unsealing (docs/updates.md). Each branch lists the values of every policy PCR
// (sealed PCRs and lock PCR); one branch is a PolicyPCR, two to eight are
// joined by a PolicyOR.
using PcrBranch = std::map<std::uint32_t, Bytes>;
inline constexpr std::size_t kMaxPolicyBranches = 8;

struct NvPolicy {
    std::uint32_t index = 0;  // NV index handle (0x01xxxxxx)
    Bytes name;               // its TPM name once written (34 bytes: sha256)
    std::vector<PcrBranch> branches;
    // Written before an NV update and cleared after it: a crash in between
    // leaves either list matching the index, and unseal reads the index to
    // tell which.
    std::vector<PcrBranch> pending;
};

// Set by `enroll --policy-key`: the sealed object's policy is
// TPM2_PolicyAuthorize by this key, so any PCR values it signed
// (`cvmunlock sign-policy`) unseal (docs/updates.md).
struct PolicyKey {
    Bytes public_blob;  // marshaled TPM2B_PUBLIC (RSASSA-SHA256), for TPM2_LoadExternal
    Bytes name;         // its TPM name, which the object's policy names
};

struct CvmToken {
    int version = kTokenVersion;         // kOldestTokenVersion..kTokenVersion: which volume-key pin is sealed
    int keyslot = -1;                    // the LUKS2 keyslot this token opens
    HashAlg pcr_bank = HashAlg::Sha256;  // bank of the PCR policy
    std::vector<std::uint32_t> pcrs;     // sealed PCRs, ascending, lock PCR excluded
    std::optional<std::uint32_t> lock_pcr;
    std::map<std::uint32_t, Bytes> pcr_values;  // enrolled values of pcrs + lock PCR (diagnostics)
    Bytes policy_digest;                        // sha256 policy of the sealed object
    Bytes srk_name;                             // TPM name of the storage root key sealed under
    Bytes tpm_public;                           // marshaled TPM2B_PUBLIC of the sealed object
    Bytes tpm_private;                          // marshaled TPM2B_PRIVATE
    std::optional<PinKdf> pin;                  // set when a PIN (PolicyAuthValue) is required
    // Per sealed PCR, the first 8 bytes of each event digest (bank pcr_bank) at
    // enrollment, to name the event that changed on a refusal.
    std::map<std::uint32_t, std::vector<Bytes>> events;
    std::optional<SnpRequirement> snp;
    std::optional<NvPolicy> nv_policy;
    std::optional<PolicyKey> policy_key;
};

inline constexpr std::size_t kEventDigestPrefix = 8;

// Strict: unknown keys, wrong types, sizes or versions are InvalidInput naming the field.
Result<CvmToken> token_from_json(std::string_view text);
Result<CvmToken> token_from_document(const nlohmann::json& doc);
nlohmann::json token_to_json(const CvmToken& token);

std::string base64_encode(ByteView data);
std::optional<Bytes> base64_decode(std::string_view text);

}  // namespace cvmunlock
