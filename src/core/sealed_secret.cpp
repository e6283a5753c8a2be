#include "cvmunlock/sealed_secret.hpp"
#include "cvmunlock/token.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>

namespace cvmunlock {

namespace {
constexpr char kPinDomain[] = "cvmunlock volume-key pin v1";
constexpr char kDigestPinDomain[] = "cvmunlock volume-key digest pin v2";
constexpr char kAuthDomain[] = "cvmunlock requirements auth v1";  // sizeof includes the NUL separator
constexpr char kModhex[] = "cbdefghijklnrtuv";
constexpr std::size_t kRecoveryBytes = 32;
constexpr std::size_t kRecoveryGroup = 8;  // characters per group
}  // namespace

namespace {
ByteView view_of(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

// SHA-256(domain || 0x00 || part[0] || 0x00 || part[1] ... [|| 0x00 || requirements]).
Bytes pin_hash(std::string_view domain, std::initializer_list<ByteView> parts, ByteView requirements) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    Bytes out(kPinSize);
    unsigned int len = 0;
    bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
              EVP_DigestUpdate(ctx, domain.data(), domain.size()) == 1;
    for (const ByteView part : parts) {
        ok = ok && EVP_DigestUpdate(ctx, "", 1) == 1 && (part.empty() || EVP_DigestUpdate(ctx, part.data(), part.size()) == 1);
    }
    ok = ok && (requirements.empty() || (EVP_DigestUpdate(ctx, "", 1) == 1 &&
                                         EVP_DigestUpdate(ctx, requirements.data(), requirements.size()) == 1)) &&
         EVP_DigestFinal_ex(ctx, out.data(), &len) == 1;
    // EVP_MD_CTX_free clears the digest state, which held the volume key (version 1).
    EVP_MD_CTX_free(ctx);
    if (!ok) return {};
    return out;
}

bool pin_equal(const Bytes& actual, ByteView pin) {
    return actual.size() == pin.size() && !actual.empty() && CRYPTO_memcmp(actual.data(), pin.data(), pin.size()) == 0;
}
}  // namespace

Bytes volume_key_pin(std::string_view luks_uuid, const SecretBuffer& volume_key, ByteView requirements) {
    return pin_hash(kPinDomain, {view_of(luks_uuid), volume_key.secret_view()}, requirements);
}

Bytes digest_pin(std::string_view luks_uuid, const VolumeKeyDigest& d, ByteView requirements) {
    const std::string iterations = std::to_string(d.iterations);
    return pin_hash(kDigestPinDomain,
                    {view_of(luks_uuid), view_of(d.hash), view_of(iterations), view_of(d.salt), view_of(d.digest)},
                    requirements);
}

bool digest_matches(std::string_view luks_uuid, const VolumeKeyDigest& d, ByteView pin, ByteView requirements) {
    return pin_equal(digest_pin(luks_uuid, d, requirements), pin);
}

Result<VolumeKeyDigest> keyslot_digest(const nlohmann::json& metadata, int keyslot) {
    const std::string slot = std::to_string(keyslot);
    if (!metadata.is_object() || !metadata.contains("digests") || !metadata["digests"].is_object()) {
        return fail(ErrorCode::InvalidInput, "the LUKS2 metadata has no digests");
    }
    for (const auto& [id, d] : metadata["digests"].items()) {
        if (!d.is_object() || !d.contains("keyslots") || !d["keyslots"].is_array()) continue;
        const auto& slots = d["keyslots"];
        if (std::find(slots.begin(), slots.end(), nlohmann::json(slot)) == slots.end()) continue;
        const auto text = [&d](const char* key) -> const std::string* {
            return d.contains(key) && d[key].is_string() ? d[key].get_ptr<const std::string*>() : nullptr;
        };
        const auto* type = text("type");
        const auto* hash = text("hash");
        const auto* salt = text("salt");
        const auto* digest = text("digest");
        if (type == nullptr || *type != "pbkdf2" || hash == nullptr || salt == nullptr || digest == nullptr ||
            !d.contains("iterations") || !d["iterations"].is_number_unsigned()) {
            return fail(ErrorCode::InvalidInput, "LUKS2 digest " + id + " of keyslot " + slot + " is not a pbkdf2 digest");
        }
        return VolumeKeyDigest{*hash, d["iterations"].get<std::uint64_t>(), *salt, *digest};
    }
    return fail(ErrorCode::InvalidInput, "no LUKS2 digest binds keyslot " + slot);
}

SecretBuffer make_sealed_data(const SecretBuffer& secret, ByteView pin) {
    SecretBuffer out(secret.size() + pin.size());
    std::memcpy(out.secret_bytes(), secret.secret_bytes(), secret.size());
    std::memcpy(out.secret_bytes() + secret.size(), pin.data(), pin.size());
    return out;
}

Result<SealedParts> split_sealed_data(const SecretBuffer& sealed) {
    if (sealed.size() != kSecretSize + kPinSize) {
        return fail(ErrorCode::Tampered, "the unsealed data has " + std::to_string(sealed.size()) + " bytes, not " +
                                             std::to_string(kSecretSize + kPinSize));
    }
    SealedParts parts;
    parts.passphrase = SecretBuffer(4 * ((kSecretSize + 2) / 3) + 1);
    const int n = EVP_EncodeBlock(parts.passphrase.secret_bytes(), sealed.secret_bytes(), static_cast<int>(kSecretSize));
    parts.passphrase.resize(static_cast<std::size_t>(n));
    parts.pin.assign(sealed.secret_bytes() + kSecretSize, sealed.secret_bytes() + kSecretSize + kPinSize);
    return parts;
}

bool volume_key_matches(std::string_view luks_uuid, const SecretBuffer& volume_key, ByteView pin,
                        ByteView requirements) {
    return pin_equal(volume_key_pin(luks_uuid, volume_key, requirements), pin);
}

Bytes token_requirements(const CvmToken& token) {
    if (!token.snp) return {};
    // nlohmann's dump sorts object keys: the same requirement always gives the same bytes.
    const std::string canonical = token_to_json(token)["snp"].dump();
    return Bytes(canonical.begin(), canonical.end());
}

Result<SecretBuffer> pin_auth_value(const SecretBuffer& pin, ByteView salt, std::uint32_t iterations) {
    SecretBuffer out(32);
    if (PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(pin.secret_bytes()), static_cast<int>(pin.size()), salt.data(),
                          static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                          static_cast<int>(out.size()), out.secret_bytes()) != 1) {
        return fail(ErrorCode::Internal, "PBKDF2 of the PIN failed");
    }
    return out;
}

Result<SecretBuffer> requirements_auth_value(const SecretBuffer& base, ByteView requirements) {
    if (requirements.empty()) return SecretBuffer::copy_of(base.secret_view());
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    SecretBuffer out(kPinSize);
    unsigned int len = 0;
    const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                    EVP_DigestUpdate(ctx, kAuthDomain, sizeof kAuthDomain) == 1 &&
                    EVP_DigestUpdate(ctx, base.secret_bytes(), base.size()) == 1 &&
                    EVP_DigestUpdate(ctx, "", 1) == 1 &&
                    EVP_DigestUpdate(ctx, requirements.data(), requirements.size()) == 1 &&
                    EVP_DigestFinal_ex(ctx, out.secret_bytes(), &len) == 1;
    // EVP_MD_CTX_free clears the digest state, which held the (PIN-derived) base.
    EVP_MD_CTX_free(ctx);
    if (!ok || len != out.size()) return fail(ErrorCode::Internal, "SHA-256 of the requirements auth value failed");
    return out;
}

bool needs_auth_value(const CvmToken& token) { return token.pin.has_value() || token.snp.has_value(); }

Result<SecretBuffer> make_recovery_key() {
    SecretBuffer raw(kRecoveryBytes);
    if (RAND_priv_bytes(raw.secret_bytes(), static_cast<int>(raw.size())) != 1) {
        return fail(ErrorCode::Internal, "OpenSSL RAND_priv_bytes failed");
    }
    const std::size_t chars = kRecoveryBytes * 2;
    SecretBuffer key(chars + chars / kRecoveryGroup - 1);
    std::size_t pos = 0;
    for (std::size_t i = 0; i < kRecoveryBytes; ++i) {
        if (i > 0 && (i * 2) % kRecoveryGroup == 0) key.secret_bytes()[pos++] = '-';
        key.secret_bytes()[pos++] = static_cast<std::uint8_t>(kModhex[raw.secret_bytes()[i] >> 4]);
        key.secret_bytes()[pos++] = static_cast<std::uint8_t>(kModhex[raw.secret_bytes()[i] & 0x0f]);
    }
    return key;
}

}  // namespace cvmunlock
