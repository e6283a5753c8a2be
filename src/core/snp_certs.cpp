// AMD SEV certificates: loading (DER or PEM), role by subject common name and
// the VCEK/VLEK extensions of AMD's "Versioned Chip Endorsement Key (VCEK)
// Certificate and KDS Interface Specification" (#57230), section "VCEK Certificate
// Extensions" (OIDs 1.3.6.1.4.1.3704.1.*).
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cvmunlock/snp_verify.hpp"

namespace cvmunlock::snp {

namespace {

struct BioFree {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct ObjFree {
    void operator()(ASN1_OBJECT* o) const noexcept { ASN1_OBJECT_free(o); }
};
struct StringFree {
    void operator()(ASN1_STRING* s) const noexcept { ASN1_STRING_free(s); }
};
struct IntegerFree {
    void operator()(ASN1_INTEGER* i) const noexcept { ASN1_INTEGER_free(i); }
};

// Subject CN prefixes (KDS spec, "Certificate Chain"): ARK-<product>, SEV-<product>
// (ASK), SEV-VLEK-<product> (ASVK); the leaves are exactly SEV-VCEK and SEV-VLEK.
constexpr std::string_view kArkPrefix = "ARK-";
constexpr std::string_view kAsvkPrefix = "SEV-VLEK-";
constexpr std::string_view kAskPrefix = "SEV-";
constexpr std::string_view kVcekCn = "SEV-VCEK";
constexpr std::string_view kVlekCn = "SEV-VLEK";

constexpr std::string_view kAmdOidBase = "1.3.6.1.4.1.3704.1.";
constexpr std::size_t kHwIdSize = 64;       // .4 on Milan and Genoa
constexpr std::size_t kHwIdSizeTurin = 8;   // .4 on Turin

Product product_from_text(std::string_view text) {
    const std::string_view family = text.substr(0, text.find('-'));  // "Genoa-B0" -> "Genoa"
    for (Product p : {Product::Milan, Product::Genoa, Product::Turin}) {
        if (family == product_name(p)) return p;
    }
    return Product::Unknown;
}

std::string name_cn(const X509_NAME* name) {
    const int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (idx < 0) return {};
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) return {};
    std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
    return cn;
}

// The DER value inside an AMD extension, or nullopt when the certificate lacks it.
std::optional<ByteView> extension_value(const Certificate& cert, std::string_view oid_suffix) {
    const std::string oid = std::string(kAmdOidBase) + std::string(oid_suffix);
    std::unique_ptr<ASN1_OBJECT, ObjFree> obj(OBJ_txt2obj(oid.c_str(), 1));
    if (!obj) return std::nullopt;
    const int idx = X509_get_ext_by_OBJ(cert.get(), obj.get(), -1);
    if (idx < 0) return std::nullopt;
    const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(cert.get(), idx));
    return ByteView(ASN1_STRING_get0_data(data), static_cast<std::size_t>(ASN1_STRING_length(data)));
}

struct SplField {
    const char* oid_suffix;
    const char* name;
    std::uint8_t Tcb::*member;
};
constexpr std::array<SplField, 5> kSplFields{{
    {"3.1", "blSPL", &Tcb::bootloader},
    {"3.2", "teeSPL", &Tcb::tee},
    {"3.3", "snpSPL", &Tcb::snp},
    {"3.8", "ucodeSPL", &Tcb::microcode},
    {"3.9", "fmcSPL", &Tcb::fmc},  // Turin only
}};

Result<std::uint8_t> spl_value(ByteView der, const std::string& where) {
    const unsigned char* p = der.data();
    std::unique_ptr<ASN1_INTEGER, IntegerFree> value(d2i_ASN1_INTEGER(nullptr, &p, static_cast<long>(der.size())));
    std::int64_t v = 0;
    if (!value || p != der.data() + der.size() || ASN1_INTEGER_get_int64(&v, value.get()) != 1) {
        return fail(ErrorCode::InvalidInput, where + " is not a DER INTEGER");
    }
    if (v < 0 || v > 0xFF) return fail(ErrorCode::InvalidInput, where + " out of range: " + std::to_string(v));
    return static_cast<std::uint8_t>(v);
}

Result<std::string> product_name_extension(ByteView der, const std::string& where) {
    const unsigned char* p = der.data();
    std::unique_ptr<ASN1_STRING, StringFree> value(d2i_ASN1_IA5STRING(nullptr, &p, static_cast<long>(der.size())));
    if (!value || p != der.data() + der.size()) {
        return fail(ErrorCode::InvalidInput, where + " is not a DER IA5String");
    }
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value.get())),
                       static_cast<std::size_t>(ASN1_STRING_length(value.get())));
}

// hwID: raw bytes in older certificates, a DER OCTET STRING in newer ones.
Result<Bytes> hw_id_value(ByteView der, std::size_t expected, const std::string& where) {
    const unsigned char* p = der.data();
    std::unique_ptr<ASN1_STRING, StringFree> wrapped(
        d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(der.size())));
    Bytes id(der.begin(), der.end());
    if (wrapped && p == der.data() + der.size() &&
        static_cast<std::size_t>(ASN1_STRING_length(wrapped.get())) == expected) {
        const unsigned char* inner = ASN1_STRING_get0_data(wrapped.get());
        id.assign(inner, inner + expected);
    }
    if (id.size() != expected) {
        return fail(ErrorCode::InvalidInput, where + " is " + std::to_string(id.size()) + " bytes, expected " +
                                                 std::to_string(expected));
    }
    return id;
}

Result<void> read_spls(const Certificate& cert, Product product, const std::string& what, Tcb& spl) {
    for (const SplField& field : kSplFields) {
        const std::string where = what + " extension " + field.name + " (" + std::string(kAmdOidBase) +
                                  field.oid_suffix + ")";
        const bool required = field.member != &Tcb::fmc || product == Product::Turin;
        const auto der = extension_value(cert, field.oid_suffix);
        if (!der) {
            if (required) return fail(ErrorCode::InvalidInput, where + " missing");
            continue;
        }
        auto value = spl_value(*der, where);
        if (!value) return std::unexpected(value.error());
        spl.*field.member = *value;
    }
    return {};
}

}  // namespace

const char* cert_role_name(CertRole role) noexcept {
    switch (role) {
        case CertRole::Ark: return "ARK";
        case CertRole::Ask: return "ASK";
        case CertRole::Asvk: return "ASVK";
        case CertRole::Vcek: return "VCEK";
        case CertRole::Vlek: return "VLEK";
        case CertRole::Unknown: break;
    }
    return "unknown";
}

void Certificate::Free::operator()(X509* x) const noexcept { X509_free(x); }

Certificate::Certificate(const Certificate& other) : x509_(other.x509_.get()) {
    if (x509_) X509_up_ref(x509_.get());
}

Certificate& Certificate::operator=(const Certificate& other) {
    if (this != &other) {
        if (other.x509_) X509_up_ref(other.x509_.get());
        x509_.reset(other.x509_.get());
    }
    return *this;
}

Certificate::~Certificate() = default;

Result<Certificate> Certificate::from_der(ByteView der, const std::string& what) {
    const unsigned char* p = der.data();
    X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
    if (x == nullptr) return fail(ErrorCode::InvalidInput, what + ": not a DER X.509 certificate");
    Certificate cert(x);
    if (p != der.data() + der.size()) {
        return fail(ErrorCode::InvalidInput, what + ": " + std::to_string(der.data() + der.size() - p) +
                                                 " trailing bytes after the certificate");
    }
    return cert;
}

Result<std::vector<Certificate>> Certificate::load_all(ByteView data, const std::string& what) {
    const std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
    if (text.find("-----BEGIN") == std::string_view::npos) {
        auto one = from_der(data, what);
        if (!one) return std::unexpected(one.error());
        return std::vector<Certificate>{std::move(*one)};
    }
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
    if (!bio) return fail(ErrorCode::Internal, what + ": BIO_new_mem_buf failed");
    std::vector<Certificate> certs;
    ERR_clear_error();
    while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        certs.push_back(Certificate(x));
    }
    const unsigned long err = ERR_peek_last_error();
    ERR_clear_error();
    // PEM_R_NO_START_LINE after the last block is the normal end of the input.
    if (err != 0 && !(ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE)) {
        return fail(ErrorCode::InvalidInput, what + ": PEM certificate " + std::to_string(certs.size() + 1) +
                                                 " is malformed");
    }
    if (certs.empty()) return fail(ErrorCode::InvalidInput, what + ": no CERTIFICATE block in the PEM");
    return certs;
}

Bytes Certificate::der() const {
    unsigned char* out = nullptr;
    const int len = i2d_X509(x509_.get(), &out);
    if (len <= 0) return {};
    Bytes der(out, out + len);
    OPENSSL_free(out);
    return der;
}

std::string Certificate::subject_cn() const { return name_cn(X509_get_subject_name(x509_.get())); }
std::string Certificate::issuer_cn() const { return name_cn(X509_get_issuer_name(x509_.get())); }

CertRole Certificate::role() const {
    const std::string cn = subject_cn();
    const std::string_view v(cn);
    if (v == kVcekCn) return CertRole::Vcek;
    if (v == kVlekCn) return CertRole::Vlek;
    if (v.starts_with(kArkPrefix) && product_from_text(v.substr(kArkPrefix.size())) != Product::Unknown) {
        return CertRole::Ark;
    }
    if (v.starts_with(kAsvkPrefix) && product_from_text(v.substr(kAsvkPrefix.size())) != Product::Unknown) {
        return CertRole::Asvk;
    }
    if (v.starts_with(kAskPrefix) && product_from_text(v.substr(kAskPrefix.size())) != Product::Unknown) {
        return CertRole::Ask;
    }
    return CertRole::Unknown;
}

Product Certificate::product() const {
    const std::string cn = subject_cn();
    switch (role()) {
        case CertRole::Ark: return product_from_text(std::string_view(cn).substr(kArkPrefix.size()));
        case CertRole::Asvk: return product_from_text(std::string_view(cn).substr(kAsvkPrefix.size()));
        case CertRole::Ask: return product_from_text(std::string_view(cn).substr(kAskPrefix.size()));
        case CertRole::Vcek:
        case CertRole::Vlek: break;
        case CertRole::Unknown: return Product::Unknown;
    }
    if (const auto der = extension_value(*this, "2")) {
        if (auto name = product_name_extension(*der, "productName")) {
            if (const Product p = product_from_text(*name); p != Product::Unknown) return p;
        }
    }
    // Older leaves without productName: the issuer is SEV-<product> or SEV-VLEK-<product>.
    const std::string issuer = name_cn(X509_get_issuer_name(x509_.get()));
    const std::string_view iv(issuer);
    if (iv.starts_with(kAsvkPrefix)) return product_from_text(iv.substr(kAsvkPrefix.size()));
    if (iv.starts_with(kAskPrefix)) return product_from_text(iv.substr(kAskPrefix.size()));
    return Product::Unknown;
}

Result<EndorsementExtensions> endorsement_extensions(const Certificate& cert, Product product) {
    if (product == Product::Unknown) product = cert.product();
    const std::string what = cert.subject_cn();
    EndorsementExtensions ext;
    if (const auto der = extension_value(cert, "2")) {
        auto name = product_name_extension(*der, what + " extension productName (1.3.6.1.4.1.3704.1.2)");
        if (!name) return std::unexpected(name.error());
        ext.product_name = std::move(*name);
    }
    if (auto spls = read_spls(cert, product, what, ext.spl); !spls) return std::unexpected(spls.error());
    if (const auto der = extension_value(cert, "4")) {
        const std::size_t expected = product == Product::Turin ? kHwIdSizeTurin : kHwIdSize;
        auto id = hw_id_value(*der, expected, what + " extension hwID (1.3.6.1.4.1.3704.1.4)");
        if (!id) return std::unexpected(id.error());
        ext.hw_id = std::move(*id);
    }
    return ext;
}

}  // namespace cvmunlock::snp
