#include "snp_gate.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "../adapters/file/read_file.hpp"
#include "cvmunlock/hcl_report.hpp"
#include "cvmunlock/snp_builtin_roots.hpp"
#include "snp_sources.hpp"

namespace cvmunlock::engine {

namespace {
namespace fs = std::filesystem;

constexpr std::size_t kMaxCertFile = 64 * 1024;

bool is_cert_file(const fs::directory_entry& e) {
    const auto ext = e.path().extension().string();
    return e.is_regular_file() && (ext == ".pem" || ext == ".der" || ext == ".crt" || ext == ".cer");
}

std::unexpected<Error> refuse(ErrorCode code, const std::string& check, const std::string& detail) {
    return fail(code, "SEV-SNP " + check + ": " + detail);
}

// One way to get the VCEK/VLEK (and maybe ASK/ARK) for the report, in the
// issue's order: the extended report's certificate table, the VCEK cached in
// the token, files given explicitly, the file in the initramfs. A source that
// cannot be read is a failed candidate, not the end: the next one may verify.
struct CertSource {
    std::string from;
    Result<std::vector<snp::Certificate>> certs;
};

Result<std::vector<snp::Certificate>> load_cert_file(const std::string& path) {
    auto bytes = file::read_all(path, kMaxCertFile);
    if (!bytes) return std::unexpected(bytes.error());  // read_all names the path
    return snp::Certificate::load_all(*bytes, path);
}

Result<std::vector<snp::Certificate>> certs_from_der(const std::vector<Bytes>& ders, const std::string& what) {
    std::vector<snp::Certificate> out;
    for (const auto& der : ders) {
        auto c = snp::Certificate::from_der(der, what);
        if (!c) return std::unexpected(c.error());
        out.push_back(std::move(*c));
    }
    return out;
}

std::vector<CertSource> cert_sources(const snp::Evidence& evidence, const SnpRequirement& requirement,
                                     const SnpGateConfig& config) {
    std::vector<CertSource> out;
    if (!evidence.certs.empty()) {
        const std::string from = "certificate table of " + evidence.origin;
        out.push_back({from, certs_from_der(evidence.certs, from)});
    }
    if (!requirement.vcek.empty()) {
        out.push_back({"token", certs_from_der({requirement.vcek}, "the VCEK cached in the token")});
    }
    std::vector<std::string> files = config.extra_certs;
    std::error_code ec;
    if (!config.vcek_file.empty() && fs::exists(config.vcek_file, ec)) files.push_back(config.vcek_file);
    for (const auto& path : files) out.push_back({path, load_cert_file(path)});
    return out;
}

Bytes leaf_vcek(const snp::VerifiedChain& chain) {
    if (chain.key_role != snp::CertRole::Vcek || chain.path.empty()) return {};
    return chain.path.front().der();
}

Result<snp::VerifiedChain> verify_with_any(const snp::Evidence& evidence, const snp::Report& report,
                                           const std::vector<CertSource>& sources, const snp::TrustStore& trust,
                                           std::time_t at, SnpVerdict& verdict) {
    if (sources.empty()) {
        return refuse(ErrorCode::PolicyRefused, "chain",
                      "no VCEK to verify the report with: " + evidence.origin +
                          " gave no certificate table, the token caches none, and there is no " + kVcekFile);
    }
    std::string why;
    for (const auto& source : sources) {
        if (!source.certs) {
            why += (why.empty() ? "" : "; ") + source.from + ": unreadable: " + source.certs.error().message;
            continue;
        }
        auto chain = snp::verify_report(evidence.report, report, *source.certs, trust, at);
        if (chain) {
            verdict.vcek_from = source.from;
            return std::move(*chain);
        }
        why += (why.empty() ? "" : "; ") + source.from + ": " + chain.error().check + ": " + chain.error().detail;
    }
    return refuse(ErrorCode::Tampered, "verification", "the report does not verify (" + why + ")");
}

std::string join(const std::vector<snp::Violation>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : "; ") + x.check + ": " + x.detail;
    return out;
}

Result<void> check_freshness(const snp::Report& report, const snp::ReportData& nonce) {
    if (!std::equal(nonce.begin(), nonce.end(), report.report_data.begin())) {
        return refuse(ErrorCode::Tampered, "freshness", "REPORT_DATA is not the nonce of this request (a replayed report)");
    }
    return {};
}
}  // namespace

Result<snp::TrustStore> load_trust_store(const SnpGateConfig& config) {
    snp::TrustStore store;
    // Parsed when a chain names their product: an unlock reads one of them, not all.
    for (const auto& anchor : snp::builtin_anchors()) {
        const ByteView pem(reinterpret_cast<const std::uint8_t*>(anchor.pem.data()), anchor.pem.size());
        const std::string what = "built-in " + std::string(anchor.name);
        if (!anchor.product.empty()) {
            store.add_deferred(pem, what, std::string(anchor.product));
        } else if (auto r = store.add(pem, what); !r) {
            return std::unexpected(r.error());
        }
    }
    for (const auto& dir : config.anchor_dirs) {
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) continue;
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(dir, ec)) {
            if (is_cert_file(e)) files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
        for (const auto& path : files) {
            auto bytes = file::read_all(path.string(), kMaxCertFile);
            if (!bytes) return std::unexpected(bytes.error().context("SEV-SNP trust anchor " + path.string()));
            // The package installs the built-in roots as files too: the same bytes add nothing.
            const auto same_as_builtin = [&](const auto& anchor) {
                return bytes->size() == anchor.pem.size() && std::memcmp(bytes->data(), anchor.pem.data(), bytes->size()) == 0;
            };
            if (std::any_of(snp::builtin_anchors().begin(), snp::builtin_anchors().end(), same_as_builtin)) continue;
            if (auto r = store.add(*bytes, path.string()); !r) return std::unexpected(r.error());
        }
    }
    return store;
}

SnpEvidenceFetch fetch_snp_evidence(const SnpRequirement& requirement, tpm::TpmContext& tpm) {
    SnpEvidenceFetch out;
    out.kind = resolve_evidence_kind(requirement.evidence);
    if (!out.kind) {
        out.evidence = std::unexpected(out.kind.error());
        return out;
    }
    auto source = make_report_source(*out.kind, tpm);
    if (!source) {
        out.evidence = std::unexpected(source.error());
        return out;
    }
    if (RAND_bytes(out.nonce.data(), static_cast<int>(out.nonce.size())) != 1) {
        out.evidence = fail(ErrorCode::Internal, "RAND_bytes failed");
        return out;
    }
    out.evidence = (*source)->fetch(out.nonce);
    if (!out.evidence) out.evidence = std::unexpected(out.evidence.error().context("SEV-SNP evidence"));
    return out;
}

Result<void> check_snp(const SnpRequirement& requirement, tpm::TpmContext& tpm, const tpm::Srk& srk,
                       const SnpGateConfig& config, SnpVerdict& verdict, const SnpEvidenceFetch* fetched) {
    verdict.evidence = requirement.evidence;
    auto trust = load_trust_store(config);
    if (!trust) return std::unexpected(trust.error());
    std::optional<SnpEvidenceFetch> fetched_here;
    if (fetched == nullptr) fetched = &fetched_here.emplace(fetch_snp_evidence(requirement, tpm));
    if (!fetched->kind) return std::unexpected(fetched->kind.error());
    const snp::EvidenceKind* kind = &*fetched->kind;
    verdict.evidence = *kind;
    if (!fetched->evidence) return std::unexpected(fetched->evidence.error());
    const snp::Evidence* evidence = &*fetched->evidence;
    const snp::ReportData& nonce = fetched->nonce;
    verdict.origin = evidence->origin;

    std::optional<hcl::HclReport> hcl;
    if (*kind == snp::EvidenceKind::AzureHcl) {
        auto parsed = hcl::parse_hcl_report(evidence->hcl_report);
        if (!parsed) return std::unexpected(parsed.error().context("HCL report in " + evidence->origin));
        hcl = std::move(*parsed);
    }
    auto report = snp::parse_report(evidence->report);
    if (!report) return std::unexpected(report.error().context("SNP report from " + evidence->origin));
    const auto sources = cert_sources(*evidence, requirement, config);
    auto chain = verify_with_any(*evidence, *report, sources, *trust, config.at.value_or(std::time(nullptr)), verdict);
    if (!chain) return std::unexpected(chain.error());
    verdict.product = chain->product;
    verdict.key_role = chain->key_role;
    verdict.vcek = leaf_vcek(*chain);

    verdict.violations = snp::evaluate_policy(*report, chain->product, requirement.policy);
    if (!verdict.violations.empty()) return refuse(ErrorCode::PolicyRefused, "policy", join(verdict.violations));
    if (hcl) {
        if (auto r = bind_azure_vtpm(tpm, *hcl, srk, ByteView(nonce.data(), 32)); !r) {
            return refuse(r.error().code, "binding", r.error().message);
        }
        verdict.azure_bound = true;
    } else if (auto r = check_freshness(*report, nonce); !r) {
        return r;
    }
    verdict.summary = std::string("SEV-SNP verified: ") + snp::product_name(chain->product) + " report from " +
                      evidence->origin + ", " + snp::cert_role_name(chain->key_role) + " from " + verdict.vcek_from +
                      (verdict.azure_bound ? ", vTPM bound to the report" : ", fresh nonce");
    return {};
}

}  // namespace cvmunlock::engine
