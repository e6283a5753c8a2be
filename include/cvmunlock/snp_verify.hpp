// Offline verification of an SEV-SNP report: the ECDSA P-384 signature by the
// VCEK or VLEK, that key's certificate chain ARK -> ASK/ASVK -> VCEK/VLEK
// (RSASSA-PSS), ending in a *trusted* ARK, and the certificate extensions that
// tie the key to this report (hwID == CHIP_ID, SPL == REPORTED_TCB).
// Pure: certificates and anchors come in as bytes; time is a parameter.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"
#include "cvmunlock/snp_report.hpp"

typedef struct x509_st X509;  // NOLINT: OpenSSL's own forward declaration

namespace cvmunlock::snp {

// Role by the AMD subject common name: ARK-<product>, SEV-<product> (ASK),
// SEV-VLEK-<product> (ASVK), SEV-VCEK, SEV-VLEK.
enum class CertRole { Ark, Ask, Asvk, Vcek, Vlek, Unknown };
const char* cert_role_name(CertRole role) noexcept;

class Certificate {
public:
    // Every certificate in `data`: one DER certificate, or PEM with one or more.
    // `what` names the source in errors ("--certs vcek.pem").
    static Result<std::vector<Certificate>> load_all(ByteView data, const std::string& what);
    static Result<Certificate> from_der(ByteView der, const std::string& what);

    Certificate(const Certificate& other);
    Certificate& operator=(const Certificate& other);
    Certificate(Certificate&&) noexcept = default;
    Certificate& operator=(Certificate&&) noexcept = default;
    ~Certificate();

    [[nodiscard]] Bytes der() const;
    [[nodiscard]] CertRole role() const;
    [[nodiscard]] std::string subject_cn() const;
    [[nodiscard]] std::string issuer_cn() const;
    // Product from the subject/issuer name ("Milan" in ARK-Milan, SEV-Milan, ...)
    // or, for VCEK/VLEK, from the productName extension ("Genoa-B0").
    [[nodiscard]] Product product() const;
    [[nodiscard]] X509* get() const noexcept { return x509_.get(); }

private:
    struct Free {
        void operator()(X509* x) const noexcept;
    };
    explicit Certificate(X509* x) noexcept : x509_(x) {}
    std::unique_ptr<X509, Free> x509_;
};

// VCEK/VLEK extensions (AMD "Versioned Chip Endorsement Key (VCEK) Certificate
// and KDS Interface Specification", OIDs 1.3.6.1.4.1.3704.1.*).
struct EndorsementExtensions {
    std::string product_name;      // .2, e.g. "Milan-B0"
    Tcb spl;                       // .3.1 bl, .3.2 tee, .3.3 snp, .3.8 ucode, .3.9 fmc (Turin)
    std::optional<Bytes> hw_id;    // .4, VCEK only: 64 bytes (8 on Turin)
};
Result<EndorsementExtensions> endorsement_extensions(const Certificate& cert, Product product);

// The ARKs (and their ASK/ASVK) the verifier trusts. Shipped anchors and the
// configuration directory are read by the caller and added here.
class TrustStore {
public:
    // PEM or DER with any mix of ARK and ASK/ASVK certificates. Each ARK must be
    // self-signed (checked here); an ASK/ASVK is only a convenience copy and is
    // verified against an ARK like any other intermediate.
    Result<void> add(ByteView data, const std::string& what);
    // As add(), deferred until a chain needs a certificate issued under a name
    // whose CN contains `product` (case-insensitive): for the built-in anchors,
    // each named by its product, so that a Milan chain parses no Genoa or Turin
    // root (and none at all when the anchors added eagerly give it a path). Exact only if every certificate in `data` has `product` in its
    // subject CN (tests/core check the built-in ones); an empty `product` is
    // loaded for the first chain. `data` must outlive the store.
    void add_deferred(ByteView data, std::string what, std::string product);
    // Loads the deferred anchors that could hold the issuer of `child`; the
    // error of one that does not parse or check.
    Result<void> load_for(const Certificate& child) const;
    // What is loaded so far (load_for first).
    [[nodiscard]] const std::vector<Certificate>& arks() const noexcept { return arks_; }
    [[nodiscard]] const std::vector<Certificate>& intermediates() const noexcept { return intermediates_; }
    [[nodiscard]] bool empty() const noexcept { return arks_.empty() && deferred_.empty(); }
    // Some deferred anchors are not loaded yet.
    [[nodiscard]] bool has_deferred() const noexcept { return !deferred_.empty(); }

private:
    struct Deferred {
        ByteView data;
        std::string what;
        std::string product;
    };
    Result<void> add_loaded(ByteView data, const std::string& what) const;
    mutable std::vector<Certificate> arks_;
    mutable std::vector<Certificate> intermediates_;
    mutable std::vector<Deferred> deferred_;
};

// A refusal names the check that failed: "signature", "chain", "expiry",
// "trust", "tcb", "chip-id", "key" (which key signed), "malformed".
struct VerifyFailure {
    std::string check;
    std::string detail;
};

struct VerifiedChain {
    Product product = Product::Unknown;
    CertRole key_role = CertRole::Unknown;  // Vcek or Vlek (or Ask/Asvk for chain-only)
    std::vector<Certificate> path;          // leaf first, trusted ARK last
};

// Chain only (`snp verify` without --report): the leaf is the VCEK/VLEK if one
// is among `certs`, else the ASK/ASVK. Every certificate on the path must be
// valid at `at` (seconds since the epoch).
std::expected<VerifiedChain, VerifyFailure> verify_chain(std::span<const Certificate> certs,
                                                         const TrustStore& trust, std::time_t at);

// Full verification of `report_bytes` (kReportSize bytes, already parsed into
// `report`): chain as above with the VCEK/VLEK the report's SIGNER_INFO names,
// then ECDSA over 0x000..0x29F, then hwID == CHIP_ID (VCEK, unless MASK_CHIP_KEY)
// and the SPL extensions == REPORTED_TCB.
std::expected<VerifiedChain, VerifyFailure> verify_report(ByteView report_bytes, const Report& report,
                                                          std::span<const Certificate> certs,
                                                          const TrustStore& trust, std::time_t at);

}  // namespace cvmunlock::snp
