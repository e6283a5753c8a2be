// The salted session's cryptography against OpenSSL's own implementations of
// the same constructions: KDFa is SP 800-108 counter mode (OpenSSL's KBKDF),
// KDFe the SP 800-56A one-step KDF (OpenSSL's SSKDF), the salt is recovered
// by the private key's side of the ECDH. That these agree with a TPM is shown
// by every unseal against swtpm (tests/luks), which checks our HMACs.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <tss2/tss2_mu.h>

#include <string>

#include "cvmunlock/tpm_session_crypto.hpp"

namespace cvmunlock {
namespace {

namespace sc = session_crypto;

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes openssl_kdf(const char* name, std::vector<OSSL_PARAM> params, std::size_t len) {
    params.push_back(OSSL_PARAM_construct_end());
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, name, nullptr);
    EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
    Bytes out(len);
    const bool ok = ctx != nullptr && EVP_KDF_derive(ctx, out.data(), out.size(), params.data()) == 1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    EXPECT_TRUE(ok) << name;
    return out;
}

Bytes kbkdf(ByteView key, std::string label, Bytes context, std::size_t len) {
    char mac[] = "HMAC";
    char digest[] = "SHA256";
    char mode[] = "counter";
    return openssl_kdf("KBKDF",
                       {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, mac, 0),
                        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
                        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, mode, 0),
                        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(key.data()), key.size()),
                        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, label.data(), label.size()),
                        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, context.data(), context.size())},
                       len);
}

Bytes sskdf(ByteView z, Bytes fixed_info, std::size_t len) {
    char digest[] = "SHA256";
    return openssl_kdf("SSKDF",
                       {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
                        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(z.data()), z.size()),
                        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, fixed_info.data(), fixed_info.size())},
                       len);
}

Bytes concat(std::initializer_list<ByteView> parts) {
    Bytes out;
    for (ByteView p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

TEST(SessionCrypto, KdfaIsSp800108CounterModeWithTheLabelsZeroOctet) {
    const Bytes key = bytes_of("session salt of thirty-two bytes");
    const Bytes u = bytes_of("nonce newer"), v = bytes_of("nonce older, longer");
    for (const std::size_t bits : {128u, 256u, 264u, 512u, 776u}) {
        SCOPED_TRACE(bits);
        auto ours = sc::kdfa(HashAlg::Sha256, key, "ATH", u, v, bits);
        ASSERT_TRUE(ours.has_value()) << ours.error().message;
        EXPECT_EQ(Bytes(ours->secret_view().begin(), ours->secret_view().end()), kbkdf(key, "ATH", concat({u, v}), bits / 8));
    }
    // Either context empty, as for a session with no bind and no nonce.
    auto ours = sc::kdfa(HashAlg::Sha256, key, "CFB", {}, v, 256);
    ASSERT_TRUE(ours.has_value());
    EXPECT_EQ(Bytes(ours->secret_view().begin(), ours->secret_view().end()), kbkdf(key, "CFB", v, 32));
    EXPECT_FALSE(sc::kdfa(HashAlg::Sha256, key, "ATH", u, v, 12).has_value());
}

TEST(SessionCrypto, KdfeIsTheOneStepKdfOverLabelAndBothParties) {
    const Bytes z = bytes_of("shared x coordinate, 32 octets!!");
    const Bytes u = bytes_of("ephemeral x"), v = bytes_of("static x");
    for (const std::size_t bits : {256u, 384u, 520u}) {
        SCOPED_TRACE(bits);
        auto ours = sc::kdfe(HashAlg::Sha256, z, "SECRET", u, v, bits);
        ASSERT_TRUE(ours.has_value()) << ours.error().message;
        EXPECT_EQ(Bytes(ours->secret_view().begin(), ours->secret_view().end()),
                  sskdf(z, concat({bytes_of(std::string_view("SECRET\0", 7)), u, v}), bits / 8));
    }
}

struct P256Key {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    ~P256Key() { EVP_PKEY_free(key); }
    Bytes point() const {
        Bytes p(65);
        std::size_t len = 0;
        EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, p.data(), p.size(), &len);
        return p;
    }
};

// What the TPM does with TPM2_StartAuthSession's encryptedSalt (Part 1, C.6.1).
Bytes tpm_side_salt(const P256Key& tpm_key, const Bytes& encrypted) {
    TPMS_ECC_POINT q{};
    std::size_t off = 0;
    EXPECT_EQ(Tss2_MU_TPMS_ECC_POINT_Unmarshal(encrypted.data(), encrypted.size(), &off, &q), 0u);
    EXPECT_EQ(off, encrypted.size());
    Bytes point = concat({Bytes{0x04}, ByteView(q.x.buffer, q.x.size), ByteView(q.y.buffer, q.y.size)});
    char group[] = "P-256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
                           OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
                           OSSL_PARAM_construct_end()};
    EVP_PKEY_CTX* from = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
    EVP_PKEY* peer = nullptr;
    EXPECT_EQ(EVP_PKEY_fromdata_init(from), 1);
    EXPECT_EQ(EVP_PKEY_fromdata(from, &peer, EVP_PKEY_PUBLIC_KEY, params), 1);
    EVP_PKEY_CTX* derive = EVP_PKEY_CTX_new_from_pkey(nullptr, tpm_key.key, nullptr);
    Bytes z(32);
    std::size_t z_len = z.size();
    EXPECT_EQ(EVP_PKEY_derive_init(derive), 1);
    EXPECT_EQ(EVP_PKEY_derive_set_peer(derive, peer), 1);
    EXPECT_EQ(EVP_PKEY_derive(derive, z.data(), &z_len), 1);
    EVP_PKEY_CTX_free(derive);
    EVP_PKEY_free(peer);
    EVP_PKEY_CTX_free(from);
    const Bytes tpm_point = tpm_key.point();
    return sskdf(z, concat({bytes_of(std::string_view("SECRET\0", 7)), ByteView(q.x.buffer, q.x.size),
                            ByteView(tpm_point.data() + 1, 32)}), 32);
}

TEST(SessionCrypto, TheTpmsPrivateKeyRecoversTheEccSalt) {
    P256Key tpm_key;
    const Bytes p = tpm_key.point();
    auto salt = sc::ecc_p256_salt(HashAlg::Sha256, ByteView(p.data() + 1, 32), ByteView(p.data() + 33, 32));
    ASSERT_TRUE(salt.has_value()) << salt.error().message;
    EXPECT_EQ(salt->salt.size(), 32u);
    EXPECT_EQ(Bytes(salt->salt.secret_view().begin(), salt->salt.secret_view().end()), tpm_side_salt(tpm_key, salt->encrypted));
    // A fresh ephemeral key each time.
    auto again = sc::ecc_p256_salt(HashAlg::Sha256, ByteView(p.data() + 1, 32), ByteView(p.data() + 33, 32));
    ASSERT_TRUE(again.has_value());
    EXPECT_NE(again->encrypted, salt->encrypted);
}

TEST(SessionCrypto, APointOffTheCurveIsRefused) {
    P256Key tpm_key;
    Bytes p = tpm_key.point();
    p[64] ^= 0x01;
    auto salt = sc::ecc_p256_salt(HashAlg::Sha256, ByteView(p.data() + 1, 32), ByteView(p.data() + 33, 32));
    ASSERT_FALSE(salt.has_value());
    EXPECT_EQ(salt.error().code, ErrorCode::Tampered) << salt.error().message;
    const Bytes long_x(33, 1);
    EXPECT_FALSE(sc::ecc_p256_salt(HashAlg::Sha256, long_x, ByteView(p.data() + 33, 32)).has_value());
}

TEST(SessionCrypto, HmacKeyDropsTheAuthValuesTrailingZerosAndOnlyWhenIncluded) {
    const SecretBuffer session = SecretBuffer::copy_of(bytes_of("KEY"));
    const Bytes auth_bytes = {'p', 0, 'n', 0, 0};
    const SecretBuffer auth = SecretBuffer::copy_of(auth_bytes);
    const SecretBuffer with = sc::hmac_key(session, auth, true);
    EXPECT_TRUE(with.equals(Bytes{'K', 'E', 'Y', 'p', 0, 'n'}));
    EXPECT_TRUE(sc::hmac_key(session, auth, false).equals(bytes_of("KEY")));
}

TEST(SessionCrypto, ResponseDecryptionUndoesAes128CfbUnderTheDerivedKey) {
    const SecretBuffer key = SecretBuffer::copy_of(bytes_of("session key || auth"));
    const Bytes nonce_tpm = bytes_of("tpm nonce"), nonce_caller = bytes_of("caller nonce");
    const Bytes plain = bytes_of("a sealed secret that is not a whole number of blocks");
    const Bytes key_iv = kbkdf(key.secret_view(), "CFB", concat({nonce_tpm, nonce_caller}), 32);
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    Bytes data(plain.size());
    int len = 0;
    ASSERT_EQ(EVP_EncryptInit_ex(ctx, EVP_aes_128_cfb128(), nullptr, key_iv.data(), key_iv.data() + 16), 1);
    ASSERT_EQ(EVP_EncryptUpdate(ctx, data.data(), &len, plain.data(), static_cast<int>(plain.size())), 1);
    EVP_CIPHER_CTX_free(ctx);
    ASSERT_NE(data, plain);
    ASSERT_TRUE(sc::aes128_cfb_decrypt_response(HashAlg::Sha256, key, nonce_tpm, nonce_caller, data).has_value());
    EXPECT_EQ(data, plain);
}

TEST(SessionCrypto, CommandAndResponseHashesCoverCodeNamesAndParameters) {
    const Bytes name = bytes_of("name");
    const ByteView names[] = {name};
    auto cp = sc::command_hash(HashAlg::Sha256, 0x15E, names, bytes_of("p"));
    ASSERT_TRUE(cp.has_value());
    EXPECT_EQ(*cp, *hash_bytes(HashAlg::Sha256, concat({Bytes{0, 0, 1, 0x5E}, name, bytes_of("p")})));
    auto rp = sc::response_hash(HashAlg::Sha256, 0x15E, bytes_of("out"));
    ASSERT_TRUE(rp.has_value());
    EXPECT_EQ(*rp, *hash_bytes(HashAlg::Sha256, concat({Bytes{0, 0, 0, 0, 0, 0, 1, 0x5E}, bytes_of("out")})));
}

}  // namespace
}  // namespace cvmunlock
