#include "file_source.hpp"

#include <utility>

#include "cvmunlock/hcl_report.hpp"
#include "cvmunlock/snp_report.hpp"
#include "cvmunlock/snp_verify.hpp"
#include "file/read_file.hpp"

namespace cvmunlock::snp {

namespace {
constexpr std::size_t kMaxEvidenceFile = 1U << 20;  // an HCL report is one NV index, a few KiB
}

FileSource::FileSource(std::string path, std::vector<std::string> cert_paths)
    : path_(std::move(path)), cert_paths_(std::move(cert_paths)) {}

Result<Evidence> FileSource::fetch(const ReportData& /*report_data*/) {
    auto bytes = file::read_all(path_, kMaxEvidenceFile);
    if (!bytes) return std::unexpected(bytes.error());
    Evidence ev;
    ev.kind = EvidenceKind::File;
    ev.origin = path_;
    if (hcl::looks_like_hcl(*bytes)) {
        auto hcl = hcl::parse_hcl_report(*bytes);
        if (!hcl) return std::unexpected(hcl.error().context(path_ + " (HCL report)"));
        ev.report = hcl->hw_report;
        ev.hcl_report = std::move(*bytes);
    } else {
        auto report = parse_report(*bytes);
        if (!report) return std::unexpected(report.error().context(path_));
        ev.report = std::move(*bytes);
    }
    for (const std::string& cert_path : cert_paths_) {
        auto data = file::read_all(cert_path, kMaxEvidenceFile);
        if (!data) return std::unexpected(data.error());
        // Split PEM bundles into single DER certificates, as the other sources deliver them.
        auto certs = Certificate::load_all(*data, cert_path);
        if (!certs) return std::unexpected(certs.error());
        for (const Certificate& c : *certs) ev.certs.push_back(c.der());
    }
    return ev;
}

}  // namespace cvmunlock::snp
