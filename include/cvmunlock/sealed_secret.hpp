// What the TPM seals for a volume: a 256-bit random secret (whose base64 form
// is the LUKS2 keyslot passphrase) and the volume-key pin, a digest of the
// volume key that binds the secret to this volume's key. The pin lives only in
// the sealed data, never in the host-writable token.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cvmunlock/error.hpp"
#include "cvmunlock/secret.hpp"

namespace cvmunlock {

inline constexpr std::size_t kSecretSize = 32;
inline constexpr std::size_t kPinSize = 32;

// Token version 1: SHA-256("cvmunlock volume-key pin v1" || 0x00 || uuid || 0x00 || volume_key
//         [|| 0x00 || requirements]):
// binds the sealed secret to this volume's key and to its LUKS2 UUID, so a
// keyslot and token transplanted from another volume of this vTPM are refused,
// and to the token's boot requirements (token_requirements), so a host that
// strips or relaxes the SNP requirement in the token gets a refusal.
Bytes volume_key_pin(std::string_view luks_uuid, const SecretBuffer& volume_key, ByteView requirements = {});

// The LUKS2 digest that a keyslot's volume key must match (type "pbkdf2"),
// its fields as the header's JSON has them.
struct VolumeKeyDigest {
    std::string hash;
    std::uint64_t iterations = 0;
    std::string salt;    // base64
    std::string digest;  // base64
};
// The digest that binds `keyslot` in LUKS2 `metadata`.
Result<VolumeKeyDigest> keyslot_digest(const nlohmann::json& metadata, int keyslot);

// Token version 2: SHA-256("cvmunlock volume-key digest pin v2" || 0x00 ||
// uuid || 0x00 || hash || 0x00 || iterations (decimal) || 0x00 || salt ||
// 0x00 || digest [|| 0x00 || requirements]). libcryptsetup accepts a volume
// key from a keyslot only when PBKDF2 of it gives that digest, so pinning the
// digest pins the volume key, and it is checked without opening the keyslot.
Bytes digest_pin(std::string_view luks_uuid, const VolumeKeyDigest& digest, ByteView requirements = {});
bool digest_matches(std::string_view luks_uuid, const VolumeKeyDigest& digest, ByteView pin, ByteView requirements = {});

// secret || pin, as sealed.
SecretBuffer make_sealed_data(const SecretBuffer& secret, ByteView pin);

struct SealedParts {
    SecretBuffer passphrase;  // base64 of the secret: what the keyslot opens with
    Bytes pin;
};
Result<SealedParts> split_sealed_data(const SecretBuffer& sealed);

// Constant-time check of a volume key (and UUID) against the sealed pin.
bool volume_key_matches(std::string_view luks_uuid, const SecretBuffer& volume_key, ByteView pin,
                        ByteView requirements = {});

// The canonical bytes of the token's requirements beyond the TPM policy (the
// "snp" object); empty when there are none, so older pins stay valid.
struct CvmToken;
Bytes token_requirements(const CvmToken& token);

// PBKDF2-HMAC-SHA256 of a PIN into a TPM authValue (32 bytes).
Result<SecretBuffer> pin_auth_value(const SecretBuffer& pin, ByteView salt, std::uint32_t iterations);

// The sealed object's authValue, binding the token's requirements into the
// TPM's own authorization (TPM 2.0 Part 1, 19.6.13: the TPM checks an
// authValue when the policy includes TPM2_PolicyAuthValue), so a token whose
// "snp" object was removed or altered cannot unseal at all.
//   base = PBKDF2(PIN) (pin_auth_value) or empty without a PIN;
//   requirements empty:  auth = base;
//   else:                auth = SHA-256("cvmunlock requirements auth v1" || 0x00 || base || 0x00 || requirements).
// The encoding is unambiguous: base is 0 or 32 bytes and the requirements are
// JSON text, which never holds a 0x00 byte.
Result<SecretBuffer> requirements_auth_value(const SecretBuffer& base, ByteView requirements);

// Whether the sealed object's policy includes TPM2_PolicyAuthValue: with a
// PIN or with requirements (token_requirements non-empty).
bool needs_auth_value(const CvmToken& token);

// 256-bit recovery key as 8 groups of 8 modhex characters joined by '-'
// (the alphabet systemd-cryptenroll and YubiKeys use: layout-independent).
Result<SecretBuffer> make_recovery_key();

}  // namespace cvmunlock
