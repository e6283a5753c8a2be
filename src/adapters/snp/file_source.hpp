// SEV-SNP evidence from a file: a raw 0x4A0-byte ATTESTATION_REPORT (as
// snpguest or go-sev-guest write it) or an Azure HCL report (as read from vTPM
// NV 0x01400001), told apart by the "HCLA" signature. Optionally the DER or
// PEM certificates that came with it.
#pragma once

#include <string>
#include <vector>

#include "cvmunlock/snp_source.hpp"

namespace cvmunlock::snp {

class FileSource final : public ReportSource {
public:
    explicit FileSource(std::string path, std::vector<std::string> cert_paths = {});

    [[nodiscard]] EvidenceKind kind() const noexcept override { return EvidenceKind::File; }
    // Ignores `report_data`: a file is not fresh, the caller gets freshness
    // another way. Unavailable when the file is missing; InvalidInput (naming
    // the path and offset) when it is neither a report nor an HCL report.
    Result<Evidence> fetch(const ReportData& report_data) override;

private:
    std::string path_;
    std::vector<std::string> cert_paths_;
};

}  // namespace cvmunlock::snp
