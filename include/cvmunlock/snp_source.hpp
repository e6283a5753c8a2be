// Where SEV-SNP evidence comes from. The adapters (src/adapters/snp for the
// guest device and configfs-tsm, src/adapters/tpm for the Azure HCL report in
// the vTPM) implement ReportSource; the engine only sees this interface.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"

namespace cvmunlock::snp {

enum class EvidenceKind { Auto, SevGuest, Tsm, AzureHcl, File };
const char* evidence_kind_name(EvidenceKind kind) noexcept;  // "auto", "sev-guest", "tsm", "azure-hcl", "file"
std::optional<EvidenceKind> evidence_kind_from_name(const std::string& name) noexcept;

using ReportData = std::array<std::uint8_t, 64>;

struct Evidence {
    EvidenceKind kind = EvidenceKind::File;
    Bytes report;             // the raw kReportSize-byte ATTESTATION_REPORT
    Bytes hcl_report;         // the whole HCL report (azure-hcl only), as read from NV
    std::vector<Bytes> certs; // DER certificates from the extended report's certificate table
    std::string origin;       // "/dev/sev-guest", "configfs-tsm", "NV 0x01400001", a path
};

class ReportSource {
public:
    virtual ~ReportSource() = default;
    [[nodiscard]] virtual EvidenceKind kind() const noexcept = 0;
    // A fresh report carrying `report_data` (sev-guest, tsm). Sources whose
    // report is produced by someone else (azure-hcl, file) ignore it; the caller
    // then gets freshness another way (the Azure binding certifies a nonce).
    // Never retried here: a failed guest request may make the kernel drop the VMPCK.
    virtual Result<Evidence> fetch(const ReportData& report_data) = 0;
};

}  // namespace cvmunlock::snp
