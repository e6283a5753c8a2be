// Pure half of the Azure vTPM binding: compares the vTPM's AK with HCLAkPub and
// checks a TPM2_Certify answer with OpenSSL (TPM 2.0 Part 2 structures through tss2-mu).
#include "cvmunlock/hcl_binding.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <tss2/tss2_mu.h>

#include "ossl_ptr.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <memory>
#include <string>

namespace cvmunlock::hcl {

namespace {

// TPMS_RSA_PARMS.exponent: zero stands for the default exponent (Part 2, 12.2.3.5).
constexpr std::uint32_t kDefaultRsaExponent = 65537;

using PkeyPtr = ossl::Pkey;
using PkeyCtxPtr = ossl::PkeyCtx;
using MdCtxPtr = ossl::MdCtx;
using BnPtr = ossl::Bn;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, ossl::Free<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, ossl::Free<OSSL_PARAM_free>>;

// Big-endian integer without its leading zero bytes.
ByteView strip_leading_zeros(ByteView v) {
    std::size_t i = 0;
    while (i < v.size() && v[i] == 0) ++i;
    return v.subspan(i);
}

std::string hex_or_empty(ByteView v) { return v.empty() ? std::string("(empty)") : to_hex(v); }

std::string hex_id(std::uint32_t v, int digits) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%0*x", digits, v);
    return buf;
}

// The JWK exponent as a number; nullopt when it does not fit TPMS_RSA_PARMS' UINT32.
std::optional<std::uint32_t> exponent_value(ByteView be) {
    ByteView e = strip_leading_zeros(be);
    if (e.size() > 4) return std::nullopt;
    std::uint32_t v = 0;
    for (std::uint8_t b : e) v = (v << 8) | b;
    return v;
}

Result<PkeyPtr> rsa_key(const RsaPublic& ak) {
    const ByteView n = strip_leading_zeros(ak.modulus);
    const ByteView e = strip_leading_zeros(ak.exponent);
    if (n.size() * 8 < kMinAkModulusBits) {
        return fail(ErrorCode::PolicyRefused, "binding: HCLAkPub modulus has " + std::to_string(n.size() * 8) +
                                                  " bits, fewer than " + std::to_string(kMinAkModulusBits));
    }
    if (e.empty()) return fail(ErrorCode::InvalidInput, "binding: HCLAkPub exponent is zero");
    BnPtr bn_n(BN_bin2bn(n.data(), static_cast<int>(n.size()), nullptr));
    BnPtr bn_e(BN_bin2bn(e.data(), static_cast<int>(e.size()), nullptr));
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bn_n || !bn_e || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
        return fail(ErrorCode::Internal, "binding: OpenSSL could not hold the HCLAkPub parameters");
    }
    ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    EVP_PKEY* raw = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
        return fail(ErrorCode::InvalidInput, "binding: HCLAkPub is not a usable RSA public key");
    }
    return PkeyPtr(raw);
}

const EVP_MD* digest_for(TPMI_ALG_HASH alg) {
    switch (alg) {
        case TPM2_ALG_SHA256:
            return EVP_sha256();
        case TPM2_ALG_SHA384:
            return EVP_sha384();
        case TPM2_ALG_SHA512:
            return EVP_sha512();
        default:
            return nullptr;
    }
}

Result<TPMT_SIGNATURE> parse_signature(ByteView marshaled) {
    TPMT_SIGNATURE sig{};
    std::size_t off = 0;
    if (marshaled.empty() ||
        Tss2_MU_TPMT_SIGNATURE_Unmarshal(marshaled.data(), marshaled.size(), &off, &sig) != TSS2_RC_SUCCESS ||
        off != marshaled.size()) {
        return fail(ErrorCode::InvalidInput, "binding: the certify signature is not a TPMT_SIGNATURE (" +
                                                 std::to_string(marshaled.size()) + " bytes)");
    }
    return sig;
}

// The AK's signature over the TPMS_ATTEST bytes (Part 1, 24.2: the signed digest
// is H(attest) for RSASSA and RSAPSS).
Result<void> verify_signature(ByteView attest, const TPMT_SIGNATURE& sig, const RsaPublic& ak) {
    if (sig.sigAlg != TPM2_ALG_RSASSA && sig.sigAlg != TPM2_ALG_RSAPSS) {
        return fail(ErrorCode::PolicyRefused,
                    "binding: certify signature algorithm " + hex_id(sig.sigAlg, 4) + " is neither RSASSA nor RSAPSS");
    }
    const TPMS_SIGNATURE_RSA& rsa = sig.sigAlg == TPM2_ALG_RSASSA ? sig.signature.rsassa : sig.signature.rsapss;
    const EVP_MD* md = digest_for(rsa.hash);
    if (md == nullptr) {
        return fail(ErrorCode::PolicyRefused,
                    "binding: certify signature hash " + hex_id(rsa.hash, 4) + " is not SHA-256/384/512");
    }
    auto key = rsa_key(ak);
    if (!key) return std::unexpected(key.error());
    MdCtxPtr ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, key->get()) != 1) {
        return fail(ErrorCode::Internal, "binding: OpenSSL could not start the signature check");
    }
    if (sig.sigAlg == TPM2_ALG_RSAPSS && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                                          EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1)) {
        return fail(ErrorCode::Internal, "binding: OpenSSL could not select RSA-PSS");
    }
    if (EVP_DigestVerify(ctx.get(), rsa.sig.buffer, rsa.sig.size, attest.data(), attest.size()) != 1) {
        return fail(ErrorCode::Tampered, std::string("binding: the certify signature (") +
                                             (sig.sigAlg == TPM2_ALG_RSASSA ? "RSASSA" : "RSAPSS") +
                                             ") does not verify with HCLAkPub");
    }
    return {};
}

Result<void> check_attest(const TPMS_ATTEST& attest, ByteView nonce, ByteView expected_name) {
    if (attest.magic != TPM2_GENERATED_VALUE) {
        return fail(ErrorCode::Tampered, "binding: TPMS_ATTEST.magic is " + hex_id(attest.magic, 8) +
                                             ", not TPM_GENERATED_VALUE 0xff544347");
    }
    if (attest.type != TPM2_ST_ATTEST_CERTIFY) {
        return fail(ErrorCode::PolicyRefused,
                    "binding: TPMS_ATTEST.type is " + hex_id(attest.type, 4) + ", not TPM_ST_ATTEST_CERTIFY 0x8017");
    }
    const ByteView extra(attest.extraData.buffer, attest.extraData.size);
    if (!std::ranges::equal(extra, nonce)) {
        return fail(ErrorCode::PolicyRefused, "binding: TPMS_ATTEST.extraData " + hex_or_empty(extra) +
                                                  " is not the nonce " + hex_or_empty(nonce) + " (stale or replayed)");
    }
    const TPM2B_NAME& name = attest.attested.certify.name;
    const ByteView got(name.name, name.size);
    if (!std::ranges::equal(got, expected_name)) {
        return fail(ErrorCode::PolicyRefused, "binding: certified name " + hex_or_empty(got) + " is not the SRK name " +
                                                  hex_or_empty(expected_name));
    }
    return {};
}

}  // namespace

Result<void> ak_matches(ByteView tpm2b_public_marshaled, const RsaPublic& ak) {
    TPM2B_PUBLIC pub{};
    std::size_t off = 0;
    if (tpm2b_public_marshaled.empty() ||
        Tss2_MU_TPM2B_PUBLIC_Unmarshal(tpm2b_public_marshaled.data(), tpm2b_public_marshaled.size(), &off, &pub) !=
            TSS2_RC_SUCCESS ||
        off != tpm2b_public_marshaled.size()) {
        return fail(ErrorCode::InvalidInput, "binding: the AK public area is not a TPM2B_PUBLIC");
    }
    const TPMT_PUBLIC& p = pub.publicArea;
    if (p.type != TPM2_ALG_RSA) {
        return fail(ErrorCode::PolicyRefused,
                    "binding: the AK type is " + hex_id(p.type, 4) + ", not RSA like HCLAkPub");
    }
    const TPMA_OBJECT a = p.objectAttributes;
    if ((a & TPMA_OBJECT_SIGN_ENCRYPT) == 0)
        return fail(ErrorCode::PolicyRefused, "binding: the AK attribute sign is clear");
    if ((a & TPMA_OBJECT_RESTRICTED) == 0)
        return fail(ErrorCode::PolicyRefused, "binding: the AK attribute restricted is clear");
    if ((a & TPMA_OBJECT_FIXEDTPM) == 0)
        return fail(ErrorCode::PolicyRefused, "binding: the AK attribute fixedTPM is clear");
    if ((a & TPMA_OBJECT_DECRYPT) != 0)
        return fail(ErrorCode::PolicyRefused, "binding: the AK attribute decrypt is set");

    const ByteView tpm_n = strip_leading_zeros(ByteView(p.unique.rsa.buffer, p.unique.rsa.size));
    const ByteView jwk_n = strip_leading_zeros(ak.modulus);
    if (!std::ranges::equal(tpm_n, jwk_n)) {
        return fail(ErrorCode::PolicyRefused,
                    "binding: the AK modulus (" + std::to_string(tpm_n.size() * 8) + " bits, starts " +
                        to_hex(tpm_n.first(std::min<std::size_t>(8, tpm_n.size()))) + ") is not HCLAkPub's (" +
                        std::to_string(jwk_n.size() * 8) + " bits, starts " +
                        to_hex(jwk_n.first(std::min<std::size_t>(8, jwk_n.size()))) + ")");
    }
    const std::uint32_t tpm_e =
        p.parameters.rsaDetail.exponent == 0 ? kDefaultRsaExponent : p.parameters.rsaDetail.exponent;
    const auto jwk_e = exponent_value(ak.exponent);
    if (!jwk_e || *jwk_e != tpm_e) {
        return fail(ErrorCode::PolicyRefused, "binding: the AK exponent " + std::to_string(tpm_e) +
                                                  " is not HCLAkPub's exponent " + hex_or_empty(ak.exponent));
    }
    return {};
}

Result<void> verify_certify(ByteView attest_marshaled, ByteView signature_marshaled, const RsaPublic& ak,
                            ByteView nonce, ByteView expected_certified_name) {
    auto sig = parse_signature(signature_marshaled);
    if (!sig) return std::unexpected(sig.error());
    if (auto ok = verify_signature(attest_marshaled, *sig, ak); !ok) return ok;

    TPMS_ATTEST attest{};
    std::size_t off = 0;
    if (attest_marshaled.empty() ||
        Tss2_MU_TPMS_ATTEST_Unmarshal(attest_marshaled.data(), attest_marshaled.size(), &off, &attest) !=
            TSS2_RC_SUCCESS ||
        off != attest_marshaled.size()) {
        return fail(ErrorCode::InvalidInput, "binding: the signed certify data is not a TPMS_ATTEST (" +
                                                 std::to_string(attest_marshaled.size()) + " bytes)");
    }
    return check_attest(attest, nonce, expected_certified_name);
}

}  // namespace cvmunlock::hcl
