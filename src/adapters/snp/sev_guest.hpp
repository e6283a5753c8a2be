// SEV-SNP reports from the Linux sev-guest driver (/dev/sev-guest, uapi
// <linux/sev-guest.h>): SNP_GET_REPORT and SNP_GET_EXT_REPORT. The firmware
// answers with MSG_REPORT_RSP (SEV-SNP Firmware ABI spec, Table "MSG_REPORT_RSP
// Message Structure"): u32 STATUS, u32 REPORT_SIZE, 24 reserved bytes, REPORT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "cvmunlock/error.hpp"
#include "cvmunlock/snp_source.hpp"

namespace cvmunlock::snp {

inline constexpr const char* kSevGuestDevice = "/dev/sev-guest";

// MSG_REPORT_RSP layout.
inline constexpr std::size_t kReportRspStatusOffset = 0x00;
inline constexpr std::size_t kReportRspSizeOffset = 0x04;
inline constexpr std::size_t kReportRspReportOffset = 0x20;

// Firmware status codes seen in MSG_REPORT_RSP.STATUS (ABI spec, "Status Codes").
inline constexpr std::uint32_t kFwStatusSuccess = 0x00;
inline constexpr std::uint32_t kFwStatusInvalidParam = 0x16;

// SW_EXITINFO2 as the driver returns it: bits 63:32 the VMM (hypervisor) error,
// bits 31:0 the firmware error (uapi sev-guest.h; GHCB spec v2 "SNP Guest Request").
inline constexpr unsigned kVmmErrorShift = 32;
inline constexpr std::uint32_t kVmmErrInvalidLen = 1;  // certs buffer too small; needed size returned
inline constexpr std::uint32_t kVmmErrBusy = 2;        // request throttled by the host

// The page granularity the driver wants for the certs buffer
// (certs_len must be a multiple of PAGE_SIZE, at most SEV_FW_BLOB_MAX_SIZE).
inline constexpr std::size_t kCertsPage = 4096;
inline constexpr std::size_t kDefaultCertsLen = 4 * kCertsPage;  // the driver's SEV_FW_BLOB_MAX_SIZE
inline constexpr std::size_t kMaxCertsLen = 1U << 20;           // refuse to grow past this

// The seam to the device: tests implement it with a fake kernel + firmware.
class GuestDevice {
public:
    virtual ~GuestDevice() = default;
    // Like ioctl(2) on the device, but returns 0 or a negative errno.
    virtual int ioctl(unsigned long request, void* arg) = 0;
};

// Opens the device O_RDWR|O_CLOEXEC. Unavailable (native errno) when it is
// missing or not accessible.
Result<std::unique_ptr<GuestDevice>> open_guest_device(const std::string& path = kSevGuestDevice);

struct SevGuestOptions {
    std::uint32_t vmpl = 0;        // VMPL to put into the report (>= the guest's current VMPL)
    bool extended = true;          // SNP_GET_EXT_REPORT (with the host's certificate table)
    std::size_t certs_len = kDefaultCertsLen;  // first certs buffer size, a multiple of kCertsPage
};

class SevGuestSource final : public ReportSource {
public:
    SevGuestSource(std::unique_ptr<GuestDevice> device, SevGuestOptions options = {},
                   std::string origin = kSevGuestDevice);

    [[nodiscard]] EvidenceKind kind() const noexcept override { return EvidenceKind::SevGuest; }
    // One guest request (two only when the host said the certs buffer was too
    // small, see the .cpp). Unavailable when the host throttles; the error's
    // native value is SW_EXITINFO2 when the driver set one, else the errno, else
    // the firmware STATUS.
    Result<Evidence> fetch(const ReportData& report_data) override;

private:
    std::unique_ptr<GuestDevice> device_;
    SevGuestOptions options_;
    std::string origin_;
};

}  // namespace cvmunlock::snp
