// Test AMD-style chain: RSA-2048 ARK/ASK (AMD uses RSA-4096; 2048 keeps key
// generation fast) with the AMD signature parameters RSASSA-PSS SHA-384,
// MGF1 SHA-384, salt 48, and an ECDSA P-384 VCEK/VLEK carrying the extensions
// of AMD's "VCEK Certificate and KDS Interface Specification" (#57230).
#include "snp_test_chain.hpp"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace cvmunlock::testing {

namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
    void operator()(T* p) const noexcept { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using ObjPtr = std::unique_ptr<ASN1_OBJECT, Deleter<ASN1_OBJECT, ASN1_OBJECT_free>>;
using OctetPtr = std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>>;
using IntPtr = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using Ia5Ptr = std::unique_ptr<ASN1_IA5STRING, Deleter<ASN1_IA5STRING, ASN1_IA5STRING_free>>;
using SigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

// The helper is test-only: an OpenSSL failure is a broken environment, not a case.
void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "TestChain: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    std::abort();
}

constexpr const char* kAmdOid = "1.3.6.1.4.1.3704.1.";  // KDS spec section "VCEK Certificate"
constexpr int kArkSerial = 0x10000;                      // like AMD's ARK-Milan
constexpr int kAskSerial = 0x10001;

PkeyPtr rsa_key() {
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
    require(key != nullptr, "RSA-2048 key generation");
    return key;
}

PkeyPtr ec_key() {
    PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
    require(key != nullptr, "EC P-384 key generation");
    return key;
}

void set_amd_name(X509_NAME* name, const std::string& cn) {
    const std::pair<const char*, const char*> parts[] = {
        {"OU", "Engineering"}, {"C", "US"}, {"L", "Santa Clara"}, {"ST", "CA"},
        {"O", "Advanced Micro Devices"}, {"CN", cn.c_str()}};
    for (const auto& [field, value] : parts) {
        require(X509_NAME_add_entry_by_txt(name, field, MBSTRING_ASC,
                                           reinterpret_cast<const unsigned char*>(value), -1, -1, 0) == 1,
                "X509_NAME_add_entry_by_txt");
    }
}

void add_der_extension(X509* cert, const std::string& oid_suffix, const Bytes& der_value) {
    ObjPtr obj(OBJ_txt2obj((std::string(kAmdOid) + oid_suffix).c_str(), 1));
    OctetPtr value(ASN1_OCTET_STRING_new());
    require(obj && value, "extension allocation");
    require(ASN1_OCTET_STRING_set(value.get(), der_value.data(), static_cast<int>(der_value.size())) == 1,
            "ASN1_OCTET_STRING_set");
    ExtPtr ext(X509_EXTENSION_create_by_OBJ(nullptr, obj.get(), 0, value.get()));
    require(ext && X509_add_ext(cert, ext.get(), -1) == 1, "X509_add_ext");
}

template <typename T, int (*I2d)(const T*, unsigned char**)>
Bytes to_der(const T* value) {
    unsigned char* out = nullptr;
    const int len = I2d(value, &out);
    require(len > 0, "DER encoding");
    Bytes der(out, out + len);
    OPENSSL_free(out);
    return der;
}

void add_integer_extension(X509* cert, const std::string& oid_suffix, long value) {
    IntPtr v(ASN1_INTEGER_new());
    require(v && ASN1_INTEGER_set(v.get(), value) == 1, "ASN1_INTEGER_set");
    add_der_extension(cert, oid_suffix, to_der<ASN1_INTEGER, i2d_ASN1_INTEGER>(v.get()));
}

void add_endorsement_extensions(X509* cert, const TestChainOptions& o) {
    const snp::Tcb tcb = snp::decode_tcb(o.reported_tcb, o.product);
    add_integer_extension(cert, "1", 0);  // structVersion
    const std::string product = std::string(snp::product_name(o.product)) + (o.vlek ? "" : "-B0");
    Ia5Ptr name(ASN1_IA5STRING_new());
    require(name && ASN1_STRING_set(name.get(), product.data(), static_cast<int>(product.size())) == 1,
            "IA5String");
    add_der_extension(cert, "2", to_der<ASN1_IA5STRING, i2d_ASN1_IA5STRING>(name.get()));
    add_integer_extension(cert, "3.1", tcb.bootloader);
    add_integer_extension(cert, "3.2", tcb.tee);
    add_integer_extension(cert, "3.3", tcb.snp);
    for (const char* reserved : {"3.4", "3.5", "3.6", "3.7"}) add_integer_extension(cert, reserved, 0);
    add_integer_extension(cert, "3.8", tcb.microcode);
    if (o.product == snp::Product::Turin) add_integer_extension(cert, "3.9", tcb.fmc);
    if (o.vlek) {
        Ia5Ptr csp(ASN1_IA5STRING_new());
        const std::string csp_id = "cvmunlock-test";
        require(csp && ASN1_STRING_set(csp.get(), csp_id.data(), static_cast<int>(csp_id.size())) == 1,
                "IA5String");
        add_der_extension(cert, "5", to_der<ASN1_IA5STRING, i2d_ASN1_IA5STRING>(csp.get()));
        return;
    }
    const std::size_t hwid_size = o.product == snp::Product::Turin ? 8 : 64;
    OctetPtr hwid(ASN1_OCTET_STRING_new());
    require(hwid && ASN1_OCTET_STRING_set(hwid.get(), o.chip_id.data(), static_cast<int>(hwid_size)) == 1,
            "hwID");
    add_der_extension(cert, "4", to_der<ASN1_OCTET_STRING, i2d_ASN1_OCTET_STRING>(hwid.get()));
}

void add_ca_extensions(X509* cert, X509* issuer, bool may_sign_certs) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    const std::pair<int, const char*> exts[] = {
        {NID_basic_constraints, "critical,CA:TRUE"},
        {NID_key_usage, may_sign_certs ? "critical,keyCertSign" : "critical,digitalSignature"}};
    for (const auto& [nid, value] : exts) {
        ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
        require(ext && X509_add_ext(cert, ext.get(), -1) == 1, "CA extension");
    }
}

// RSASSA-PSS, SHA-384, MGF1 SHA-384, salt 48: the parameters of every AMD certificate.
void sign_pss(X509* cert, EVP_PKEY* issuer_key) {
    MdCtxPtr md(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;  // owned by md
    require(md && EVP_DigestSignInit(md.get(), &pctx, EVP_sha384(), nullptr, issuer_key) == 1,
            "EVP_DigestSignInit");
    require(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) == 1 &&
                EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) == 1,
            "PSS parameters");
    require(X509_sign_ctx(cert, md.get()) > 0, "X509_sign_ctx");
}

struct CertSpec {
    std::string subject_cn;
    std::string issuer_cn;
    long serial = 0;
    bool ca = false;
};

X509Ptr make_cert(const CertSpec& spec, EVP_PKEY* subject_key, EVP_PKEY* issuer_key, X509* issuer,
                  const TestChainOptions& o) {
    X509Ptr cert(X509_new());
    require(cert != nullptr, "X509_new");
    require(X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");
    require(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), spec.serial) == 1, "serial");
    require(X509_gmtime_adj(X509_getm_notBefore(cert.get()), o.not_before) != nullptr &&
                X509_gmtime_adj(X509_getm_notAfter(cert.get()), o.not_after) != nullptr,
            "validity");
    set_amd_name(X509_get_subject_name(cert.get()), spec.subject_cn);
    set_amd_name(X509_get_issuer_name(cert.get()), spec.issuer_cn);
    require(X509_set_pubkey(cert.get(), subject_key) == 1, "X509_set_pubkey");
    if (spec.ca) {
        // Only the ASK/ASVK (issued by another) can be made unfit to sign certificates.
        add_ca_extensions(cert.get(), issuer != nullptr ? issuer : cert.get(), issuer == nullptr || o.ask_may_sign_certs);
    } else {
        add_endorsement_extensions(cert.get(), o);
    }
    sign_pss(cert.get(), issuer_key);
    return cert;
}

Bytes cert_pem(X509* cert) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    require(bio && PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return Bytes(data, data + len);
}

// CPUID family/model/stepping as the firmware reports them (version 3+ reports).
void set_cpuid(snp::Report& r, snp::Product product) {
    switch (product) {
        case snp::Product::Genoa: r.cpuid_fam_id = 0x19; r.cpuid_mod_id = 0x11; r.cpuid_step = 0x01; break;
        case snp::Product::Turin: r.cpuid_fam_id = 0x1A; r.cpuid_mod_id = 0x02; r.cpuid_step = 0x00; break;
        default: r.cpuid_fam_id = 0x19; r.cpuid_mod_id = 0x01; r.cpuid_step = 0x01; break;
    }
}

}  // namespace

struct TestChain::Impl {
    TestChainOptions options;
    PkeyPtr ark_key, ask_key, leaf_key;
    X509Ptr ark, ask, leaf;
};

TestChain::TestChain(const TestChainOptions& options) : impl_(std::make_unique<Impl>()) {
    Impl& c = *impl_;
    c.options = options;
    if (std::all_of(c.options.chip_id.begin(), c.options.chip_id.end(), [](std::uint8_t b) { return b == 0; })) {
        const std::size_t n = options.product == snp::Product::Turin ? 8 : c.options.chip_id.size();
        std::fill_n(c.options.chip_id.begin(), n, std::uint8_t{0x11});
    }
    const std::string product = snp::product_name(options.product);
    const std::string ark_cn = "ARK-" + product;
    const std::string ask_cn = (options.vlek ? "SEV-VLEK-" : "SEV-") + product;
    c.ark_key = rsa_key();
    c.ask_key = rsa_key();
    c.leaf_key = ec_key();
    c.ark = make_cert({ark_cn, ark_cn, kArkSerial, true}, c.ark_key.get(), c.ark_key.get(), nullptr, c.options);
    c.ask = make_cert({ask_cn, ark_cn, kAskSerial, true}, c.ask_key.get(), c.ark_key.get(), c.ark.get(),
                      c.options);
    c.leaf = make_cert({options.vlek ? "SEV-VLEK" : "SEV-VCEK", ask_cn, 0, false}, c.leaf_key.get(),
                       c.ask_key.get(), c.ask.get(), c.options);
}

TestChain::~TestChain() = default;
TestChain::TestChain(TestChain&&) noexcept = default;
TestChain& TestChain::operator=(TestChain&&) noexcept = default;

const TestChainOptions& TestChain::options() const noexcept { return impl_->options; }
Bytes TestChain::ark_pem() const { return cert_pem(impl_->ark.get()); }
Bytes TestChain::ask_pem() const { return cert_pem(impl_->ask.get()); }
Bytes TestChain::vcek_pem() const { return cert_pem(impl_->leaf.get()); }

Bytes TestChain::vcek_der() const {
    return to_der<X509, i2d_X509>(impl_->leaf.get());
}

Bytes TestChain::chain_pem() const {
    Bytes out = ask_pem();
    const Bytes ark = ark_pem();
    out.insert(out.end(), ark.begin(), ark.end());
    return out;
}

snp::Report TestChain::make_report(const snp::ReportData& report_data) const {
    const TestChainOptions& o = impl_->options;
    snp::Report r;
    r.version = o.product == snp::Product::Turin ? 5 : 3;
    r.policy = snp::policy_bit::kSmt | snp::policy_bit::kReserved1;
    r.vmpl = 0;
    r.signature_algo = snp::kSignatureAlgoEcdsaP384Sha384;
    r.current_tcb = r.reported_tcb = r.committed_tcb = r.launch_tcb = o.reported_tcb;
    r.signer_info = static_cast<std::uint32_t>(o.vlek ? snp::SigningKey::Vlek : snp::SigningKey::Vcek) << 2;
    r.report_data = report_data;
    r.chip_id = o.chip_id;
    set_cpuid(r, o.product);
    r.current_major = r.committed_major = 1;
    r.current_minor = r.committed_minor = 55;
    return r;
}

Bytes TestChain::sign(snp::Report& report) const {
    report.signature_r.fill(0);
    report.signature_s.fill(0);
    const Bytes unsigned_bytes = snp::serialize_report(report);
    MdCtxPtr md(EVP_MD_CTX_new());
    require(md && EVP_DigestSignInit(md.get(), nullptr, EVP_sha384(), nullptr, impl_->leaf_key.get()) == 1,
            "EVP_DigestSignInit (ECDSA)");
    std::size_t der_len = 0;
    require(EVP_DigestSign(md.get(), nullptr, &der_len, unsigned_bytes.data(), snp::kSignedSize) == 1,
            "EVP_DigestSign (size)");
    Bytes der(der_len);
    require(EVP_DigestSign(md.get(), der.data(), &der_len, unsigned_bytes.data(), snp::kSignedSize) == 1,
            "EVP_DigestSign");
    const unsigned char* p = der.data();
    SigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
    require(sig != nullptr, "d2i_ECDSA_SIG");
    // ABI spec Table 139 "ECDSA P-384 with SHA-384 Signature": R and S little-endian, zero-extended to 72 bytes.
    require(BN_bn2lebinpad(ECDSA_SIG_get0_r(sig.get()), report.signature_r.data(),
                           static_cast<int>(report.signature_r.size())) > 0 &&
                BN_bn2lebinpad(ECDSA_SIG_get0_s(sig.get()), report.signature_s.data(),
                               static_cast<int>(report.signature_s.size())) > 0,
            "BN_bn2lebinpad");
    return snp::serialize_report(report);
}

}  // namespace cvmunlock::testing
