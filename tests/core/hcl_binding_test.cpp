// The pure half of the Azure vTPM binding: ak_matches over hand-built
// TPM2B_PUBLICs and verify_certify over TPMS_ATTESTs signed here with
// OpenSSL-generated keys, plus the real Azure Genoa vTPM quote (a signature made
// by a real vTPM AK, verified with the HCLAkPub of its own HCL report).
#include <gtest/gtest.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <tss2/tss2_mu.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cvmunlock/hcl_binding.hpp"
#include "cvmunlock/hcl_report.hpp"
#include "test_data.hpp"

namespace cvmunlock::hcl {
namespace {

struct PkeyFree {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct TestKey {
    Pkey key;
    RsaPublic pub;
};

Bytes bn_param(const EVP_PKEY* key, const char* name) {
    BIGNUM* bn = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(key, name, &bn), 1);
    Bytes out(static_cast<std::size_t>(BN_num_bytes(bn)));
    BN_bn2bin(bn, out.data());
    BN_free(bn);
    return out;
}

TestKey make_key(unsigned bits) {
    Pkey key(EVP_RSA_gen(bits));
    EXPECT_TRUE(key);
    RsaPublic pub{bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N), bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E)};
    return TestKey{std::move(key), std::move(pub)};
}

// Generated once: RSA key generation is the slow part of these tests.
const TestKey& ak_key() {
    static const TestKey k = make_key(2048);
    return k;
}
const TestKey& other_key() {
    static const TestKey k = make_key(2048);
    return k;
}

const Bytes kNonce = *from_hex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
const Bytes kSrkName = *from_hex("000b5c1e1e7f2b8f7d3c1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081");

// ---- TPM2B_PUBLIC of an AK ------------------------------------------------

TPM2B_PUBLIC ak_public(const RsaPublic& key) {
    TPM2B_PUBLIC t{};
    TPMT_PUBLIC& p = t.publicArea;
    p.type = TPM2_ALG_RSA;
    p.nameAlg = TPM2_ALG_SHA256;
    p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                         TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
    p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
    p.parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
    p.parameters.rsaDetail.keyBits = static_cast<UINT16>(key.modulus.size() * 8);
    p.parameters.rsaDetail.exponent = 0;  // 65537
    p.unique.rsa.size = static_cast<UINT16>(key.modulus.size());
    std::memcpy(p.unique.rsa.buffer, key.modulus.data(), key.modulus.size());
    return t;
}

Bytes marshal_public(const TPM2B_PUBLIC& pub) {
    Bytes out(sizeof pub);
    std::size_t len = 0;
    EXPECT_EQ(Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, out.data(), out.size(), &len), TSS2_RC_SUCCESS);
    out.resize(len);
    return out;
}

TEST(HclBindingAk, TheSameKeyMatchesWithDefaultOrExplicitExponent) {
    TPM2B_PUBLIC pub = ak_public(ak_key().pub);
    auto r = ak_matches(marshal_public(pub), ak_key().pub);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    pub.publicArea.parameters.rsaDetail.exponent = 65537;
    r = ak_matches(marshal_public(pub), ak_key().pub);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    // A JWK modulus/exponent with a leading zero byte is the same number.
    RsaPublic padded = ak_key().pub;
    padded.modulus.insert(padded.modulus.begin(), 0);
    padded.exponent.insert(padded.exponent.begin(), 0);
    r = ak_matches(marshal_public(pub), padded);
    EXPECT_TRUE(r.has_value()) << r.error().message;
}

struct AkCase {
    const char* name;
    std::function<void(TPM2B_PUBLIC&, RsaPublic&)> mutate;
    const char* needle;
};

TEST(HclBindingAk, EachMismatchIsRefusedNamingTheField) {
    const std::vector<AkCase> cases = {
        {"another key's modulus", [](TPM2B_PUBLIC&, RsaPublic& j) { j.modulus = other_key().pub.modulus; }, "modulus"},
        {"one modulus bit", [](TPM2B_PUBLIC& p, RsaPublic&) { p.publicArea.unique.rsa.buffer[100] ^= 1; }, "modulus"},
        {"TPM exponent 3", [](TPM2B_PUBLIC& p, RsaPublic&) { p.publicArea.parameters.rsaDetail.exponent = 3; },
         "exponent"},
        {"JWK exponent 3", [](TPM2B_PUBLIC&, RsaPublic& j) { j.exponent = {3}; }, "exponent"},
        {"JWK exponent 0 (not the default)", [](TPM2B_PUBLIC&, RsaPublic& j) { j.exponent = {0}; }, "exponent"},
        {"JWK exponent wider than 32 bits",
         [](TPM2B_PUBLIC&, RsaPublic& j) {
             j.exponent = {1, 0, 0, 0, 1};
         },
         "exponent"},
        {"sign clear", [](TPM2B_PUBLIC& p, RsaPublic&) { p.publicArea.objectAttributes &= ~TPMA_OBJECT_SIGN_ENCRYPT; },
         "sign"},
        {"restricted clear",
         [](TPM2B_PUBLIC& p, RsaPublic&) { p.publicArea.objectAttributes &= ~TPMA_OBJECT_RESTRICTED; }, "restricted"},
        {"fixedTPM clear", [](TPM2B_PUBLIC& p, RsaPublic&) { p.publicArea.objectAttributes &= ~TPMA_OBJECT_FIXEDTPM; },
         "fixedTPM"},
        {"decrypt set", [](TPM2B_PUBLIC& p, RsaPublic&) { p.publicArea.objectAttributes |= TPMA_OBJECT_DECRYPT; },
         "decrypt"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        TPM2B_PUBLIC pub = ak_public(ak_key().pub);
        RsaPublic jwk = ak_key().pub;
        c.mutate(pub, jwk);
        auto r = ak_matches(marshal_public(pub), jwk);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code, ErrorCode::PolicyRefused);
        EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
        EXPECT_TRUE(r.error().message.starts_with("binding: ")) << r.error().message;
    }
}

TEST(HclBindingAk, AnEccKeyIsRefusedNamingTheType) {
    TPM2B_PUBLIC pub{};
    pub.publicArea.type = TPM2_ALG_ECC;
    pub.publicArea.nameAlg = TPM2_ALG_SHA256;
    pub.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
    pub.publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    pub.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    pub.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    pub.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    pub.publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    auto r = ak_matches(marshal_public(pub), ak_key().pub);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::PolicyRefused);
    EXPECT_NE(r.error().message.find("type is 0x0023"), std::string::npos) << r.error().message;
}

TEST(HclBindingAk, MalformedPublicAreaIsInvalidInputAtEveryTruncation) {
    const Bytes good = marshal_public(ak_public(ak_key().pub));
    for (std::size_t len = 0; len < good.size(); len += 7) {
        auto r = ak_matches(ByteView(good).first(len), ak_key().pub);
        ASSERT_FALSE(r.has_value()) << len;
        EXPECT_EQ(r.error().code, ErrorCode::InvalidInput) << len;
    }
    Bytes trailing = good;
    trailing.push_back(0);
    auto r = ak_matches(trailing, ak_key().pub);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
}

// ---- TPM2_Certify answers ------------------------------------------------

TPMS_ATTEST certify_attest(ByteView nonce, ByteView name) {
    TPMS_ATTEST a{};
    a.magic = TPM2_GENERATED_VALUE;
    a.type = TPM2_ST_ATTEST_CERTIFY;
    a.qualifiedSigner.size = 2;
    a.qualifiedSigner.name[0] = 0x00;
    a.qualifiedSigner.name[1] = 0x0b;
    a.extraData.size = static_cast<UINT16>(nonce.size());
    std::memcpy(a.extraData.buffer, nonce.data(), nonce.size());
    a.clockInfo.clock = 123456;
    a.clockInfo.safe = TPM2_YES;
    a.firmwareVersion = 0x2000000000000001ULL;
    a.attested.certify.name.size = static_cast<UINT16>(name.size());
    std::memcpy(a.attested.certify.name.name, name.data(), name.size());
    a.attested.certify.qualifiedName = a.attested.certify.name;
    return a;
}

Bytes marshal_attest(const TPMS_ATTEST& a) {
    Bytes out(sizeof a);
    std::size_t len = 0;
    EXPECT_EQ(Tss2_MU_TPMS_ATTEST_Marshal(&a, out.data(), out.size(), &len), TSS2_RC_SUCCESS);
    out.resize(len);
    return out;
}

const EVP_MD* md_of(TPMI_ALG_HASH h) {
    return h == TPM2_ALG_SHA384 ? EVP_sha384() : h == TPM2_ALG_SHA512 ? EVP_sha512() : EVP_sha256();
}

Bytes raw_sign(const EVP_PKEY* key, ByteView data, TPMI_ALG_SIG_SCHEME alg, TPMI_ALG_HASH hash) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_PKEY_CTX* pctx = nullptr;
    EXPECT_EQ(EVP_DigestSignInit(ctx.get(), &pctx, md_of(hash), nullptr, const_cast<EVP_PKEY*>(key)), 1);
    if (alg == TPM2_ALG_RSAPSS) {
        EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        EXPECT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
    }
    std::size_t len = 0;
    EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, data.data(), data.size()), 1);
    Bytes sig(len);
    EXPECT_EQ(EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()), 1);
    sig.resize(len);
    return sig;
}

Bytes wrap_signature(ByteView raw, TPMI_ALG_SIG_SCHEME alg, TPMI_ALG_HASH hash) {
    TPMT_SIGNATURE s{};
    s.sigAlg = alg;
    TPMS_SIGNATURE_RSA& rsa = alg == TPM2_ALG_RSAPSS ? s.signature.rsapss : s.signature.rsassa;
    rsa.hash = hash;
    rsa.sig.size = static_cast<UINT16>(raw.size());
    std::memcpy(rsa.sig.buffer, raw.data(), raw.size());
    Bytes out(sizeof s);
    std::size_t len = 0;
    EXPECT_EQ(Tss2_MU_TPMT_SIGNATURE_Marshal(&s, out.data(), out.size(), &len), TSS2_RC_SUCCESS);
    out.resize(len);
    return out;
}

Bytes sign(const EVP_PKEY* key, ByteView data, TPMI_ALG_SIG_SCHEME alg = TPM2_ALG_RSASSA,
           TPMI_ALG_HASH hash = TPM2_ALG_SHA256) {
    return wrap_signature(raw_sign(key, data, alg, hash), alg, hash);
}

TEST(HclBindingCertify, GenuineCertifyVerifiesForEachSchemeAndHash) {
    const Bytes attest = marshal_attest(certify_attest(kNonce, kSrkName));
    for (TPMI_ALG_SIG_SCHEME alg : {TPM2_ALG_RSASSA, TPM2_ALG_RSAPSS}) {
        for (TPMI_ALG_HASH hash : {TPM2_ALG_SHA256, TPM2_ALG_SHA384, TPM2_ALG_SHA512}) {
            SCOPED_TRACE(std::to_string(alg) + "/" + std::to_string(hash));
            auto r =
                verify_certify(attest, sign(ak_key().key.get(), attest, alg, hash), ak_key().pub, kNonce, kSrkName);
            EXPECT_TRUE(r.has_value()) << r.error().message;
        }
    }
}

struct CertifyCase {
    const char* name;
    std::function<void(TPMS_ATTEST&)> mutate;  // applied before signing with the AK
    ErrorCode code;
    const char* needle;
};

TEST(HclBindingCertify, WellSignedButWrongContentsIsRefusedNamingTheField) {
    const std::vector<CertifyCase> cases = {
        {"another nonce", [](TPMS_ATTEST& a) { a.extraData.buffer[31] ^= 1; }, ErrorCode::PolicyRefused, "extraData"},
        {"no nonce", [](TPMS_ATTEST& a) { a.extraData.size = 0; }, ErrorCode::PolicyRefused, "extraData (empty)"},
        {"shorter nonce", [](TPMS_ATTEST& a) { a.extraData.size = 16; }, ErrorCode::PolicyRefused, "extraData"},
        {"another object", [](TPMS_ATTEST& a) { a.attested.certify.name.name[5] ^= 0x80; }, ErrorCode::PolicyRefused,
         "certified name"},
        {"no object name", [](TPMS_ATTEST& a) { a.attested.certify.name.size = 0; }, ErrorCode::PolicyRefused,
         "certified name (empty)"},
        {"wrong magic", [](TPMS_ATTEST& a) { a.magic = 0xff544348; }, ErrorCode::Tampered, "magic is 0xff544348"},
        {"quote, not certify",
         [](TPMS_ATTEST& a) {
             a.type = TPM2_ST_ATTEST_QUOTE;
             a.attested.quote = TPMS_QUOTE_INFO{};
         },
         ErrorCode::PolicyRefused, "type is 0x8018"},
        {"session audit, not certify",
         [](TPMS_ATTEST& a) {
             a.type = TPM2_ST_ATTEST_SESSION_AUDIT;
             a.attested.sessionAudit = TPMS_SESSION_AUDIT_INFO{};
         },
         ErrorCode::PolicyRefused, "type is 0x8016"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        TPMS_ATTEST a = certify_attest(kNonce, kSrkName);
        c.mutate(a);
        const Bytes attest = marshal_attest(a);
        auto r = verify_certify(attest, sign(ak_key().key.get(), attest), ak_key().pub, kNonce, kSrkName);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code, c.code) << r.error().message;
        EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
        EXPECT_TRUE(r.error().message.starts_with("binding: ")) << r.error().message;
    }
}

TEST(HclBindingCertify, FlippingAnyAttestByteBreaksTheSignature) {
    const Bytes attest = marshal_attest(certify_attest(kNonce, kSrkName));
    const Bytes sig = sign(ak_key().key.get(), attest);
    for (std::size_t i = 0; i < attest.size(); ++i) {
        Bytes bad = attest;
        bad[i] ^= 0x01;
        auto r = verify_certify(bad, sig, ak_key().pub, kNonce, kSrkName);
        ASSERT_FALSE(r.has_value()) << "byte " << i;
        EXPECT_EQ(r.error().code, ErrorCode::Tampered) << "byte " << i << ": " << r.error().message;
    }
}

TEST(HclBindingCertify, SignatureProblemsAreRefused) {
    const Bytes attest = marshal_attest(certify_attest(kNonce, kSrkName));
    const Bytes pss = raw_sign(ak_key().key.get(), attest, TPM2_ALG_RSAPSS, TPM2_ALG_SHA256);
    Bytes short_sig = sign(ak_key().key.get(), attest);
    short_sig.pop_back();
    Bytes trailing = sign(ak_key().key.get(), attest);
    trailing.push_back(0);
    TPMT_SIGNATURE ecdsa{};
    ecdsa.sigAlg = TPM2_ALG_ECDSA;
    ecdsa.signature.ecdsa.hash = TPM2_ALG_SHA256;
    Bytes ecdsa_blob(sizeof ecdsa);
    std::size_t len = 0;
    ASSERT_EQ(Tss2_MU_TPMT_SIGNATURE_Marshal(&ecdsa, ecdsa_blob.data(), ecdsa_blob.size(), &len), TSS2_RC_SUCCESS);
    ecdsa_blob.resize(len);
    struct Case {
        const char* name;
        Bytes sig;
        ErrorCode code;
        const char* needle;
    };
    const std::vector<Case> cases = {
        {"signed by another key", sign(other_key().key.get(), attest), ErrorCode::Tampered, "does not verify"},
        {"PSS signature labelled RSASSA", wrap_signature(pss, TPM2_ALG_RSASSA, TPM2_ALG_SHA256), ErrorCode::Tampered,
         "RSASSA"},
        {"SHA-256 signature labelled SHA-384",
         wrap_signature(raw_sign(ak_key().key.get(), attest, TPM2_ALG_RSASSA, TPM2_ALG_SHA256), TPM2_ALG_RSASSA,
                        TPM2_ALG_SHA384),
         ErrorCode::Tampered, "does not verify"},
        {"SHA-1",
         wrap_signature(raw_sign(ak_key().key.get(), attest, TPM2_ALG_RSASSA, TPM2_ALG_SHA256), TPM2_ALG_RSASSA,
                        TPM2_ALG_SHA1),
         ErrorCode::PolicyRefused, "hash 0x0004"},
        {"ECDSA", ecdsa_blob, ErrorCode::PolicyRefused, "algorithm 0x0018"},
        {"truncated", short_sig, ErrorCode::InvalidInput, "TPMT_SIGNATURE"},
        {"trailing byte", trailing, ErrorCode::InvalidInput, "TPMT_SIGNATURE"},
        {"empty", Bytes{}, ErrorCode::InvalidInput, "TPMT_SIGNATURE"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto r = verify_certify(attest, c.sig, ak_key().pub, kNonce, kSrkName);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code, c.code) << r.error().message;
        EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
    }
}

TEST(HclBindingCertify, SignedGarbageIsNotATpmsAttest) {
    Bytes attest = marshal_attest(certify_attest(kNonce, kSrkName));
    attest.push_back(0x42);  // signed, but one byte past the structure
    auto r = verify_certify(attest, sign(ak_key().key.get(), attest), ak_key().pub, kNonce, kSrkName);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(r.error().message.find("TPMS_ATTEST"), std::string::npos) << r.error().message;
}

TEST(HclBindingCertify, ShortAkIsRefused) {
    const TestKey small = make_key(1024);
    const Bytes attest = marshal_attest(certify_attest(kNonce, kSrkName));
    auto r = verify_certify(attest, sign(small.key.get(), attest), small.pub, kNonce, kSrkName);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::PolicyRefused);
    EXPECT_NE(r.error().message.find("1024 bits"), std::string::npos) << r.error().message;
}

// ---- a real vTPM signature ---------------------------------------------
// The Azure Genoa evidence carries a TPM2_Quote signed by the vTPM AK whose
// public key is HCLAkPub in the same evidence's HCL report. verify_certify must
// accept its signature and then refuse it for being a quote, not a certify.

struct RealQuote {
    RsaPublic ak;
    Bytes message;
    Bytes raw_signature;
    Bytes extra_data;
};

RealQuote genoa_quote() {
    const Bytes raw = testing::read_data("snp/trustee/azure-evidence-genoa.json");
    const auto doc = nlohmann::json::parse(raw.begin(), raw.end());
    auto report = parse_hcl_report(doc.at("report").get<Bytes>());
    EXPECT_TRUE(report.has_value());
    auto ak = ak_public_from_runtime(report->runtime_json);
    EXPECT_TRUE(ak.has_value());
    RealQuote q{*ak, doc.at("quote").at("message").get<Bytes>(), doc.at("quote").at("signature").get<Bytes>(), {}};
    TPMS_ATTEST a{};
    std::size_t off = 0;
    EXPECT_EQ(Tss2_MU_TPMS_ATTEST_Unmarshal(q.message.data(), q.message.size(), &off, &a), TSS2_RC_SUCCESS);
    q.extra_data.assign(a.extraData.buffer, a.extraData.buffer + a.extraData.size);
    return q;
}

TEST(HclBindingRealVector, AzureVtpmQuoteSignatureVerifiesWithHclAkPubButIsNoCertify) {
    const RealQuote q = genoa_quote();
    auto r = verify_certify(q.message, wrap_signature(q.raw_signature, TPM2_ALG_RSASSA, TPM2_ALG_SHA256), q.ak,
                            q.extra_data, kSrkName);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::PolicyRefused);
    EXPECT_NE(r.error().message.find("type is 0x8018"), std::string::npos) << r.error().message;
}

TEST(HclBindingRealVector, AzureVtpmQuoteMutationsBreakTheSignature) {
    const RealQuote q = genoa_quote();
    const Bytes sig = wrap_signature(q.raw_signature, TPM2_ALG_RSASSA, TPM2_ALG_SHA256);
    for (std::size_t i = 0; i < q.message.size(); i += 5) {
        Bytes bad = q.message;
        bad[i] ^= 0x10;
        auto r = verify_certify(bad, sig, q.ak, q.extra_data, kSrkName);
        ASSERT_FALSE(r.has_value()) << i;
        EXPECT_EQ(r.error().code, ErrorCode::Tampered) << i << ": " << r.error().message;
    }
    // The same bytes read as PSS, or checked with the other HCL report's AK, do not verify.
    auto r = verify_certify(q.message, wrap_signature(q.raw_signature, TPM2_ALG_RSAPSS, TPM2_ALG_SHA256), q.ak,
                            q.extra_data, kSrkName);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::Tampered);
    auto milan = parse_hcl_report(testing::read_data("snp/trustee/azure-hcl-report.bin"));
    ASSERT_TRUE(milan.has_value());
    auto milan_ak = ak_public_from_runtime(milan->runtime_json);
    ASSERT_TRUE(milan_ak.has_value());
    r = verify_certify(q.message, sig, *milan_ak, q.extra_data, kSrkName);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::Tampered);
}

}  // namespace
}  // namespace cvmunlock::hcl
