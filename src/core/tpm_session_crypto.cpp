#include "cvmunlock/tpm_session_crypto.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <tss2/tss2_mu.h>

#include <array>
#include <cstring>

#include "ossl_ptr.hpp"

namespace cvmunlock::session_crypto {

namespace {

constexpr std::size_t kP256Bytes = 32;
constexpr std::size_t kAes128Bytes = 16;

void put_be32(Bytes& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

// The label and its terminating zero octet (Part 1, 11.4.10.1).
void put_label(Bytes& out, std::string_view label) {
    out.insert(out.end(), label.begin(), label.end());
    out.push_back(0);
}

Result<const EVP_MD*> md_of(HashAlg alg) {
    const EVP_MD* md = evp_md_for(alg);
    if (md == nullptr) return fail(ErrorCode::Internal, "no OpenSSL digest for " + std::string(hash_alg_name(alg)));
    return md;
}

// 04 || x || y of a P-256 public key, each coordinate left-padded to 32 octets.
Result<Bytes> uncompressed_point(ByteView x, ByteView y) {
    if (x.size() > kP256Bytes || y.size() > kP256Bytes) {
        return fail(ErrorCode::InvalidInput, "the SRK's ECC point has a coordinate longer than 32 octets");
    }
    Bytes point(1 + 2 * kP256Bytes, 0);
    point[0] = 0x04;
    std::memcpy(point.data() + 1 + kP256Bytes - x.size(), x.data(), x.size());
    std::memcpy(point.data() + 1 + 2 * kP256Bytes - y.size(), y.data(), y.size());
    return point;
}

Result<ossl::Pkey> p256_public_key(const Bytes& point) {
    char group[] = "P-256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<std::uint8_t*>(point.data()), point.size()),
        OSSL_PARAM_construct_end(),
    };
    ossl::PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* raw = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        return fail(ErrorCode::Tampered, "the SRK's public key is not a point on NIST P-256");
    }
    return ossl::Pkey(raw);
}
}  // namespace

Result<SecretBuffer> kdfa(HashAlg alg, ByteView key, std::string_view label, ByteView context_u,
                          ByteView context_v, std::size_t bits) {
    auto md = md_of(alg);
    if (!md) return std::unexpected(md.error());
    if (bits == 0 || bits % 8 != 0) return fail(ErrorCode::Internal, "KDFa: the length must be whole octets");
    const std::size_t digest = hash_alg_size(alg);
    SecretBuffer out((bits / 8 + digest - 1) / digest * digest);
    Bytes input;
    for (std::uint32_t i = 1; (i - 1) * digest < bits / 8; ++i) {
        input.clear();
        put_be32(input, i);
        put_label(input, label);
        input.insert(input.end(), context_u.begin(), context_u.end());
        input.insert(input.end(), context_v.begin(), context_v.end());
        put_be32(input, static_cast<std::uint32_t>(bits));
        unsigned int len = 0;
        if (HMAC(*md, key.data(), static_cast<int>(key.size()), input.data(), input.size(),
                 out.secret_bytes() + (i - 1) * digest, &len) == nullptr || len != digest) {
            return fail(ErrorCode::Internal, "KDFa: HMAC failed");
        }
    }
    out.resize(bits / 8);
    return out;
}

Result<SecretBuffer> kdfe(HashAlg alg, ByteView z, std::string_view label, ByteView party_u, ByteView party_v,
                          std::size_t bits) {
    if (bits == 0 || bits % 8 != 0) return fail(ErrorCode::Internal, "KDFe: the length must be whole octets");
    const std::size_t digest = hash_alg_size(alg);
    SecretBuffer out((bits / 8 + digest - 1) / digest * digest);
    Bytes counter;
    Bytes tail;
    put_label(tail, label);
    tail.insert(tail.end(), party_u.begin(), party_u.end());
    tail.insert(tail.end(), party_v.begin(), party_v.end());
    for (std::uint32_t i = 1; (i - 1) * digest < bits / 8; ++i) {
        counter.clear();
        put_be32(counter, i);
        const ByteView parts[] = {counter, z, tail};
        auto block = hash_parts(alg, parts);
        if (!block) return std::unexpected(block.error());
        std::memcpy(out.secret_bytes() + (i - 1) * digest, block->data(), digest);
        wipe(block->data(), block->size());
    }
    out.resize(bits / 8);
    return out;
}

Result<EccSalt> ecc_p256_salt(HashAlg alg, ByteView x, ByteView y) {
    auto point = uncompressed_point(x, y);
    if (!point) return std::unexpected(point.error());
    auto peer = p256_public_key(*point);
    if (!peer) return std::unexpected(peer.error());
    ossl::Pkey ephemeral(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!ephemeral) return fail(ErrorCode::Internal, "generating an ephemeral P-256 key failed");
    std::array<std::uint8_t, 1 + 2 * kP256Bytes> mine{};
    std::size_t mine_len = 0;
    if (EVP_PKEY_get_octet_string_param(ephemeral.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, mine.data(), mine.size(),
                                        &mine_len) != 1 || mine_len != mine.size() || mine[0] != 0x04) {
        return fail(ErrorCode::Internal, "reading the ephemeral P-256 public key failed");
    }
    // Z: the x coordinate of the shared point; set_peer_ex checks the SRK's point once more.
    ossl::PkeyCtx derive(EVP_PKEY_CTX_new_from_pkey(nullptr, ephemeral.get(), nullptr));
    SecretBuffer z(kP256Bytes);
    std::size_t z_len = z.size();
    if (!derive || EVP_PKEY_derive_init(derive.get()) != 1 ||
        EVP_PKEY_derive_set_peer_ex(derive.get(), peer->get(), 1) != 1 ||
        EVP_PKEY_derive(derive.get(), z.secret_bytes(), &z_len) != 1 || z_len != kP256Bytes) {
        return fail(ErrorCode::Tampered, "ECDH with the SRK's public key failed");
    }
    const ByteView ephemeral_x(mine.data() + 1, kP256Bytes);
    const ByteView srk_x(point->data() + 1, kP256Bytes);
    auto salt = kdfe(alg, z.secret_view(), "SECRET", ephemeral_x, srk_x, hash_alg_size(alg) * 8);
    if (!salt) return std::unexpected(salt.error());

    TPMS_ECC_POINT q{};
    q.x.size = kP256Bytes;
    q.y.size = kP256Bytes;
    std::memcpy(q.x.buffer, mine.data() + 1, kP256Bytes);
    std::memcpy(q.y.buffer, mine.data() + 1 + kP256Bytes, kP256Bytes);
    EccSalt out{Bytes(sizeof q), std::move(*salt)};
    std::size_t len = 0;
    if (Tss2_MU_TPMS_ECC_POINT_Marshal(&q, out.encrypted.data(), out.encrypted.size(), &len) != 0) {
        return fail(ErrorCode::Internal, "marshaling the ephemeral ECC point failed");
    }
    out.encrypted.resize(len);
    return out;
}

SecretBuffer hmac_key(const SecretBuffer& session_key, const SecretBuffer& auth_value, bool include_auth) {
    std::size_t auth_len = include_auth ? auth_value.size() : 0;
    while (auth_len > 0 && auth_value.secret_bytes()[auth_len - 1] == 0) --auth_len;
    SecretBuffer key(session_key.size() + auth_len);
    if (!session_key.empty()) std::memcpy(key.secret_bytes(), session_key.secret_bytes(), session_key.size());
    if (auth_len > 0) std::memcpy(key.secret_bytes() + session_key.size(), auth_value.secret_bytes(), auth_len);
    return key;
}

Result<Bytes> command_hash(HashAlg alg, std::uint32_t command_code, std::span<const ByteView> names,
                           ByteView parameters) {
    Bytes data;
    put_be32(data, command_code);
    for (ByteView name : names) data.insert(data.end(), name.begin(), name.end());
    data.insert(data.end(), parameters.begin(), parameters.end());
    return hash_bytes(alg, data);
}

Result<Bytes> response_hash(HashAlg alg, std::uint32_t command_code, ByteView parameters) {
    Bytes data;
    put_be32(data, 0);  // TPM_RC_SUCCESS: only a successful response carries an HMAC
    put_be32(data, command_code);
    data.insert(data.end(), parameters.begin(), parameters.end());
    return hash_bytes(alg, data);
}

Result<Bytes> session_hmac(HashAlg alg, const SecretBuffer& key, ByteView p_hash, ByteView nonce_newer,
                           ByteView nonce_older, std::uint8_t attributes) {
    auto md = md_of(alg);
    if (!md) return std::unexpected(md.error());
    Bytes data(p_hash.begin(), p_hash.end());
    data.insert(data.end(), nonce_newer.begin(), nonce_newer.end());
    data.insert(data.end(), nonce_older.begin(), nonce_older.end());
    data.push_back(attributes);
    Bytes out(hash_alg_size(alg));
    unsigned int len = 0;
    if (HMAC(*md, key.secret_bytes(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &len) ==
            nullptr || len != out.size()) {
        return fail(ErrorCode::Internal, "session HMAC failed");
    }
    return out;
}

Result<void> aes128_cfb_decrypt_response(HashAlg alg, const SecretBuffer& key, ByteView nonce_tpm,
                                         ByteView nonce_caller, std::span<std::uint8_t> data) {
    auto key_iv = kdfa(alg, key.secret_view(), "CFB", nonce_tpm, nonce_caller, 8 * (kAes128Bytes + kAes128Bytes));
    if (!key_iv) return std::unexpected(key_iv.error());
    ossl::CipherCtx ctx(EVP_CIPHER_CTX_new());
    int out_len = 0;
    int final_len = 0;
    if (!ctx ||
        EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_cfb128(), nullptr, key_iv->secret_bytes(),
                           key_iv->secret_bytes() + kAes128Bytes) != 1 ||
        EVP_DecryptUpdate(ctx.get(), data.data(), &out_len, data.data(), static_cast<int>(data.size())) != 1 ||
        EVP_DecryptFinal_ex(ctx.get(), data.data() + out_len, &final_len) != 1 ||
        static_cast<std::size_t>(out_len + final_len) != data.size()) {
        return fail(ErrorCode::Internal, "AES-128-CFB decryption of the response failed");
    }
    return {};
}

}  // namespace cvmunlock::session_crypto
