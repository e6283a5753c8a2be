// Offline SEV-SNP verification. Chain (AMD KDS spec #57230, "Certificate Chain"):
// ARK (self-signed) -> ASK or ASVK -> VCEK or VLEK, every link RSASSA-PSS SHA-384;
// the ARK must be one of the TrustStore's, never one that merely came along.
// Report (SEV-SNP ABI spec, Table "ATTESTATION_REPORT Structure" and "ECDSA
// P-384 with SHA-384 Signature"): ECDSA over bytes 0x000..0x29F, R and S
// little-endian at 0x2A0 and 0x2E8.
//
// Check order: malformed, key, chain/trust/expiry, chip-id, tcb, signature.
// VCEKs are derived per chip and per TCB, so a VCEK of another chip or TCB can
// only fail the signature; checking hwID and SPLs first names the real cause.
// Every check must pass, so the order changes the message, never the verdict.
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cvmunlock/snp_verify.hpp"

namespace cvmunlock::snp {

namespace {

struct SigFree {
    void operator()(ECDSA_SIG* s) const noexcept { ECDSA_SIG_free(s); }
};
struct BnFree {
    void operator()(BIGNUM* b) const noexcept { BN_free(b); }
};
struct OpensslFree {
    void operator()(unsigned char* p) const noexcept { OPENSSL_free(p); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};

constexpr std::size_t kSignatureSOffset = kSignatureOffset + kSignatureComponentSize;  // 0x2E8

template <typename T>
using Verdict = std::expected<T, VerifyFailure>;

std::unexpected<VerifyFailure> refuse(std::string check, std::string detail) {
    return std::unexpected(VerifyFailure{std::move(check), std::move(detail)});
}

std::string time_text(const ASN1_TIME* t) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(t, &tm) != 1) return "(unreadable time)";
    std::array<char, 32> buf{};
    const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%d %H:%M:%S UTC", &tm);
    return std::string(buf.data(), n);
}

std::string short_hex(ByteView bytes) {
    constexpr std::size_t kShown = 16;
    return bytes.size() <= kShown ? to_hex(bytes) : to_hex(bytes.first(kShown)) + "...";
}

// A name without a CN still shows in a refusal.
std::string cn_or_none(std::string cn) { return cn.empty() ? "(no CN)" : cn; }

bool names_issuer(const Certificate& child, const Certificate& parent) {
    return X509_NAME_cmp(X509_get_issuer_name(child.get()), X509_get_subject_name(parent.get())) == 0;
}

bool signed_by(const Certificate& child, const Certificate& parent) {
    EVP_PKEY* key = X509_get0_pubkey(parent.get());
    return key != nullptr && X509_verify(child.get(), key) == 1;
}

// The trusted ARK that signed `intermediate`. A supplied ARK is only used to
// explain a refusal.
Verdict<Certificate> trusted_ark_for(const Certificate& intermediate, std::span<const Certificate> certs,
                                     const TrustStore& trust, bool load_deferred) {
    if (load_deferred) {
        if (auto loaded = trust.load_for(intermediate); !loaded) return refuse("trust", loaded.error().message);
    }
    bool same_name = false;
    for (const Certificate& ark : trust.arks()) {
        if (!names_issuer(intermediate, ark)) continue;
        if (signed_by(intermediate, ark)) return ark;
        same_name = true;
    }
    const std::string who = intermediate.subject_cn();
    const std::string issuer = cn_or_none(intermediate.issuer_cn());
    if (same_name) {
        return refuse("trust", who + " is not signed by the trusted " + issuer + " (same name, other key)");
    }
    const bool supplied = std::any_of(certs.begin(), certs.end(), [&](const Certificate& c) {
        return c.role() == CertRole::Ark && names_issuer(intermediate, c);
    });
    return refuse("trust", who + " is issued by " + issuer +
                               (supplied ? ", which came with the certificates but is not in the trust store"
                                         : ", which is not in the trust store"));
}

// leaf -> ASK/ASVK -> trusted ARK. Intermediates come from `certs` and the trust
// store; each candidate whose name and signature fit is tried.
Verdict<std::vector<Certificate>> build_path(const Certificate& leaf, std::span<const Certificate> certs,
                                             const TrustStore& trust, bool load_deferred) {
    const CertRole role = leaf.role();
    if (role == CertRole::Ask || role == CertRole::Asvk) {
        auto ark = trusted_ark_for(leaf, certs, trust, load_deferred);
        if (!ark) return std::unexpected(ark.error());
        return std::vector<Certificate>{leaf, std::move(*ark)};
    }
    const CertRole want = role == CertRole::Vlek ? CertRole::Asvk : CertRole::Ask;
    if (load_deferred) {
        if (auto loaded = trust.load_for(leaf); !loaded) return refuse("trust", loaded.error().message);
    }
    std::vector<Certificate> candidates(certs.begin(), certs.end());
    candidates.insert(candidates.end(), trust.intermediates().begin(), trust.intermediates().end());
    std::optional<VerifyFailure> upper_failure;
    bool named = false;
    for (const Certificate& ask : candidates) {
        if (ask.role() != want || !names_issuer(leaf, ask)) continue;
        named = true;
        if (!signed_by(leaf, ask)) continue;
        auto ark = trusted_ark_for(ask, certs, trust, load_deferred);
        if (ark) return std::vector<Certificate>{leaf, ask, std::move(*ark)};
        if (!upper_failure) upper_failure = ark.error();
    }
    if (upper_failure) return std::unexpected(*upper_failure);
    const std::string what = leaf.subject_cn() + " (issuer " + cn_or_none(leaf.issuer_cn()) + ")";
    if (named) return refuse("chain", "the signature of " + what + " does not verify with any " + cert_role_name(want));
    return refuse("chain", std::string("no ") + cert_role_name(want) + " that issued " + what +
                               " among the certificates or the trust store");
}

Verdict<void> check_validity(const std::vector<Certificate>& path, std::time_t at) {
    for (const Certificate& cert : path) {
        const ASN1_TIME* not_before = X509_get0_notBefore(cert.get());
        const ASN1_TIME* not_after = X509_get0_notAfter(cert.get());
        const int before = ASN1_TIME_cmp_time_t(not_before, at);
        const int after = ASN1_TIME_cmp_time_t(not_after, at);
        if (before == -2 || after == -2) return refuse("malformed", cert.subject_cn() + " has an unreadable validity");
        if (before > 0) {
            return refuse("expiry", cert.subject_cn() + " is not valid before notBefore " + time_text(not_before));
        }
        if (after < 0) return refuse("expiry", cert.subject_cn() + " expired at notAfter " + time_text(not_after));
    }
    return {};
}

struct StoreFree {
    void operator()(X509_STORE* s) const noexcept { X509_STORE_free(s); }
};
struct StoreCtxFree {
    void operator()(X509_STORE_CTX* c) const noexcept { X509_STORE_CTX_free(c); }
};
struct StackFree {
    void operator()(STACK_OF(X509)* s) const noexcept { sk_X509_free(s); }
};

// The path built above, verified again by OpenSSL's X.509 verifier: only its
// ARK trusted (no system store), its middle certificates untrusted. That adds
// what the role-based path building does not check: basicConstraints (CA,
// path length) and keyUsage of the issuers, unknown critical extensions, and
// the signatures with their RSA-PSS parameters. Validity times are
// check_validity()'s (RFC 5280: notAfter itself is still valid; OpenSSL's
// verifier counts it as expired), so OpenSSL does not check them again.
Verdict<void> check_with_x509_verifier(const std::vector<Certificate>& path) {
    std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
    std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
    std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
    if (!store || !untrusted || !ctx || X509_STORE_add_cert(store.get(), path.back().get()) != 1) {
        return refuse("chain", "OpenSSL could not set up a certificate verification");
    }
    for (std::size_t i = 1; i + 1 < path.size(); ++i) sk_X509_push(untrusted.get(), path[i].get());
    if (X509_STORE_CTX_init(ctx.get(), store.get(), path.front().get(), untrusted.get()) != 1) {
        return refuse("chain", "OpenSSL could not set up a certificate verification");
    }
    X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME);
    if (X509_verify_cert(ctx.get()) == 1) return {};
    const int error = X509_STORE_CTX_get_error(ctx.get());
    X509* at_cert = X509_STORE_CTX_get_current_cert(ctx.get());
    std::string who = "the chain";
    for (const Certificate& c : path) {
        if (at_cert != nullptr && X509_cmp(c.get(), at_cert) == 0) who = c.subject_cn();
    }
    return refuse("chain", who + ": " + X509_verify_cert_error_string(error) + " (OpenSSL's X.509 verifier)");
}

Verdict<VerifiedChain> chain_for(const Certificate& leaf, std::span<const Certificate> certs, const TrustStore& trust,
                                 std::time_t at) {
    if (trust.empty()) return refuse("trust", "the trust store holds no ARK");
    // The anchors already loaded first: a path to one of them is accepted as it
    // would be with every anchor loaded, and the deferred (built-in) roots are
    // then not parsed. Only if none gives a path are they loaded and the path
    // built again, whose refusal is the one reported.
    auto path = build_path(leaf, certs, trust, false);
    if (!path && trust.has_deferred()) path = build_path(leaf, certs, trust, true);
    if (!path) return std::unexpected(path.error());
    if (auto valid = check_validity(*path, at); !valid) return std::unexpected(valid.error());
    if (auto x509 = check_with_x509_verifier(*path); !x509) return std::unexpected(x509.error());
    VerifiedChain chain;
    chain.product = path->back().product();
    chain.key_role = leaf.role();
    chain.path = std::move(*path);
    return chain;
}

// ABI spec: CHIP_ID (0x1A0) equals the VCEK hwID (8 bytes on Turin), unless
// MASK_CHIP_KEY zeroed it; a VLEK has no hwID.
Verdict<void> check_chip_id(const Report& report, const Certificate& leaf, const EndorsementExtensions& ext) {
    if (leaf.role() != CertRole::Vcek || report.mask_chip_id()) return {};
    if (!ext.hw_id) return refuse("chip-id", leaf.subject_cn() + " has no hwID extension (1.3.6.1.4.1.3704.1.4)");
    const ByteView hw_id(*ext.hw_id);
    const ByteView chip_id = ByteView(report.chip_id).first(std::min(hw_id.size(), report.chip_id.size()));
    if (!std::equal(chip_id.begin(), chip_id.end(), hw_id.begin(), hw_id.end())) {
        return refuse("chip-id", "CHIP_ID " + short_hex(chip_id) + " differs from the " + leaf.subject_cn() +
                                     " hwID " + short_hex(hw_id));
    }
    return {};
}

struct TcbComponent {
    const char* report_name;
    const char* spl_name;
    std::uint8_t Tcb::*member;
};
constexpr std::array<TcbComponent, 5> kTcbComponents{{
    {"bl", "blSPL", &Tcb::bootloader},
    {"tee", "teeSPL", &Tcb::tee},
    {"snp", "snpSPL", &Tcb::snp},
    {"ucode", "ucodeSPL", &Tcb::microcode},
    {"fmc", "fmcSPL", &Tcb::fmc},
}};

// The VCEK/VLEK is issued for one TCB: its SPL extensions equal REPORTED_TCB (0x180).
Verdict<void> check_tcb(const Report& report, const Certificate& leaf, const EndorsementExtensions& ext,
                        Product product) {
    const Tcb reported = decode_tcb(report.reported_tcb, product);
    for (const TcbComponent& c : kTcbComponents) {
        if (c.member == &Tcb::fmc && product != Product::Turin) continue;
        if (reported.*c.member == ext.spl.*c.member) continue;
        return refuse("tcb", std::string("REPORTED_TCB ") + c.report_name + "=" + std::to_string(reported.*c.member) +
                                 " but the " + leaf.subject_cn() + " " + c.spl_name + " is " +
                                 std::to_string(ext.spl.*c.member));
    }
    return {};
}

Verdict<void> check_signature(ByteView report_bytes, const Certificate& leaf) {
    EVP_PKEY* key = X509_get0_pubkey(leaf.get());
    std::array<char, 32> group{};
    std::size_t group_len = 0;
    if (key == nullptr || EVP_PKEY_get_group_name(key, group.data(), group.size(), &group_len) != 1 ||
        std::strcmp(group.data(), SN_secp384r1) != 0) {
        return refuse("key", leaf.subject_cn() + " does not hold an ECDSA P-384 key");
    }
    std::unique_ptr<BIGNUM, BnFree> r(BN_lebin2bn(report_bytes.data() + kSignatureOffset,
                                                  static_cast<int>(kSignatureComponentSize), nullptr));
    std::unique_ptr<BIGNUM, BnFree> s(BN_lebin2bn(report_bytes.data() + kSignatureSOffset,
                                                  static_cast<int>(kSignatureComponentSize), nullptr));
    std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
    if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
        return refuse("malformed", "cannot build the ECDSA signature from 0x2A0/0x2E8");
    }
    static_cast<void>(r.release());  // owned by sig now
    static_cast<void>(s.release());
    unsigned char* der = nullptr;
    const int der_len = i2d_ECDSA_SIG(sig.get(), &der);
    if (der_len <= 0) return refuse("malformed", "cannot DER-encode the signature at 0x2A0");
    const std::unique_ptr<unsigned char, OpensslFree> der_owner(der);
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> md(EVP_MD_CTX_new());
    const bool ok = md && EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha384(), nullptr, key) == 1 &&
                    EVP_DigestVerify(md.get(), der, static_cast<std::size_t>(der_len), report_bytes.data(),
                                     kSignedSize) == 1;
    if (!ok) {
        return refuse("signature", "the ECDSA P-384 signature (0x2A0) over bytes 0x000..0x29F does not verify with the " +
                                       leaf.subject_cn() + " key");
    }
    return {};
}

// `report` must describe `report_bytes`: the checks read its fields while the
// signature covers the bytes.
Verdict<void> check_consistent(ByteView report_bytes, const Report& report) {
    if (report_bytes.size() != kReportSize) {
        return refuse("malformed", "report is " + std::to_string(report_bytes.size()) + " bytes, expected 0x4A0");
    }
    auto parsed = parse_report(report_bytes);
    if (!parsed) return refuse("malformed", parsed.error().message);
    if (parsed->signer_info != report.signer_info || parsed->reported_tcb != report.reported_tcb ||
        parsed->chip_id != report.chip_id || parsed->product() != report.product()) {
        return refuse("malformed", "the parsed report does not match the report bytes");
    }
    return {};
}

Verdict<VerifiedChain> verify_with_leaf(ByteView report_bytes, const Report& report, const Certificate& leaf,
                                        std::span<const Certificate> certs, const TrustStore& trust, std::time_t at) {
    auto chain = chain_for(leaf, certs, trust, at);
    if (!chain) return chain;
    const Product report_product = report.product();
    if (report_product != Product::Unknown && chain->product != Product::Unknown && report_product != chain->product) {
        return refuse("chain", std::string("the report is from a ") + product_name(report_product) +
                                   " CPU but the certificates are for " + product_name(chain->product));
    }
    auto ext = endorsement_extensions(leaf, chain->product);
    if (!ext) return refuse("malformed", ext.error().message);
    if (auto ok = check_chip_id(report, leaf, *ext); !ok) return std::unexpected(ok.error());
    if (auto ok = check_tcb(report, leaf, *ext, chain->product); !ok) return std::unexpected(ok.error());
    if (auto ok = check_signature(report_bytes, leaf); !ok) return std::unexpected(ok.error());
    return chain;
}

}  // namespace

Verdict<VerifiedChain> verify_chain(std::span<const Certificate> certs, const TrustStore& trust, std::time_t at) {
    const auto is_role = [&](std::initializer_list<CertRole> roles) {
        return std::find_if(certs.begin(), certs.end(), [&](const Certificate& c) {
            return std::find(roles.begin(), roles.end(), c.role()) != roles.end();
        });
    };
    auto leaf = is_role({CertRole::Vcek, CertRole::Vlek});
    if (leaf == certs.end()) leaf = is_role({CertRole::Ask, CertRole::Asvk});
    if (leaf == certs.end()) {
        return refuse("chain", "no VCEK, VLEK, ASK or ASVK among the " + std::to_string(certs.size()) + " certificates");
    }
    return chain_for(*leaf, certs, trust, at);
}

Verdict<VerifiedChain> verify_report(ByteView report_bytes, const Report& report, std::span<const Certificate> certs,
                                     const TrustStore& trust, std::time_t at) {
    if (auto ok = check_consistent(report_bytes, report); !ok) return std::unexpected(ok.error());
    const SigningKey key = report.signing_key();
    if (key != SigningKey::Vcek && key != SigningKey::Vlek) {
        return refuse("key", "SIGNER_INFO (0x048) names signing key " + std::to_string(static_cast<int>(key)) +
                                 (key == SigningKey::None ? " (none): the report is not signed" : " (reserved)"));
    }
    const CertRole role = key == SigningKey::Vcek ? CertRole::Vcek : CertRole::Vlek;
    std::optional<VerifyFailure> first_failure;
    for (const Certificate& leaf : certs) {
        if (leaf.role() != role) continue;
        auto verdict = verify_with_leaf(report_bytes, report, leaf, certs, trust, at);
        if (verdict) return verdict;
        if (!first_failure) first_failure = verdict.error();
    }
    if (first_failure) return std::unexpected(*first_failure);
    return refuse("key", std::string("the report is signed by the ") + cert_role_name(role) +
                             " (SIGNER_INFO 0x048) but no " + cert_role_name(role) + " certificate was supplied");
}

}  // namespace cvmunlock::snp
