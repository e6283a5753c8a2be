#include "sev_guest.hpp"

#include <fcntl.h>
#include <linux/sev-guest.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "cert_table.hpp"
#include "fresh_report.hpp"

namespace cvmunlock::snp {

namespace {

// The driver preloads SW_EXITINFO2 with SEV_RET_NO_FW_CALL before anything
// reaches the firmware (0xff in kernels before 6.4, -1 since).
constexpr std::uint64_t kNoFwCallOld = 0xff;
constexpr std::uint64_t kNoFwCall = ~0ULL;
constexpr std::uint8_t kMsgVersion = 1;  // MSG_REPORT_REQ message version

class FdGuestDevice final : public GuestDevice {
public:
    explicit FdGuestDevice(int fd) noexcept : fd_(fd) {}
    ~FdGuestDevice() override { ::close(fd_); }
    FdGuestDevice(const FdGuestDevice&) = delete;
    FdGuestDevice& operator=(const FdGuestDevice&) = delete;

    int ioctl(unsigned long request, void* arg) override {
        // No EINTR loop: the driver waits killably only, and a request that
        // reached the firmware must never be sent twice.
        return ::ioctl(fd_, request, arg) < 0 ? -errno : 0;
    }

private:
    int fd_;
};

std::string hex64(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

bool firmware_called(std::uint64_t exitinfo2) { return exitinfo2 != kNoFwCall && exitinfo2 != kNoFwCallOld; }

std::uint32_t vmm_error(std::uint64_t exitinfo2) { return static_cast<std::uint32_t>(exitinfo2 >> kVmmErrorShift); }

std::string errno_text(int err) {
    const char* name = strerrorname_np(err);
    return std::string(name ? name : "errno " + std::to_string(err)) + " (" + std::strerror(err) + ")";
}

// Maps a failed request to our Error once, here at the edge.
Error request_error(const std::string& origin, const char* op, int rc, std::uint64_t exitinfo2) {
    const int err = -rc;
    const bool fw = exitinfo2 != 0 && firmware_called(exitinfo2);
    const std::int64_t native = fw ? static_cast<std::int64_t>(exitinfo2) : err;
    std::string detail = op + std::string(" failed: ") + errno_text(err);
    if (fw) {
        detail += ", SW_EXITINFO2 " + hex64(exitinfo2) + " (vmm_error " + std::to_string(vmm_error(exitinfo2)) +
                  ", fw_error " + hex64(exitinfo2 & 0xffffffffULL) + ")";
    } else if (exitinfo2 != 0) {
        detail += ", no firmware call was made";
    }
    if (err == EAGAIN || err == EBUSY || err == ETIMEDOUT || (fw && vmm_error(exitinfo2) == kVmmErrBusy)) {
        return Error(ErrorCode::Unavailable,
                     origin + ": " + detail + ": the host is throttling guest requests; not retried, try again later",
                     native);
    }
    if (err == ENOTTY || err == ENODEV || err == ENXIO) {
        return Error(ErrorCode::Unavailable,
                     origin + ": " + detail +
                         ": the driver refuses guest requests (the VMPCK is disabled after an earlier failure, "
                         "or the device does not support this request)",
                     native);
    }
    return Error(ErrorCode::Internal, origin + ": " + detail + "; not retried (a failed guest request may make the "
                                                               "kernel disable the VMPCK)",
                 native);
}

std::size_t round_to_pages(std::size_t len) {
    const std::size_t pages = std::max<std::size_t>(1, (len + kCertsPage - 1) / kCertsPage);
    return pages * kCertsPage;
}

}  // namespace

Result<std::unique_ptr<GuestDevice>> open_guest_device(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        return fail(ErrorCode::Unavailable, path + ": " + errno_text(err), err);
    }
    return std::unique_ptr<GuestDevice>(std::make_unique<FdGuestDevice>(fd));
}

SevGuestSource::SevGuestSource(std::unique_ptr<GuestDevice> device, SevGuestOptions options, std::string origin)
    : device_(std::move(device)), options_(options), origin_(std::move(origin)) {}

namespace {

struct Request {
    snp_report_req req{};
    snp_report_resp resp{};
    Bytes certs;
};

Result<void> get_report(GuestDevice& dev, Request& r, const std::string& origin) {
    snp_guest_request_ioctl io{};
    io.msg_version = kMsgVersion;
    io.req_data = reinterpret_cast<std::uintptr_t>(&r.req);
    io.resp_data = reinterpret_cast<std::uintptr_t>(&r.resp);
    const int rc = dev.ioctl(SNP_GET_REPORT, &io);
    if (rc != 0) return std::unexpected(request_error(origin, "SNP_GET_REPORT", rc, io.exitinfo2));
    return {};
}

Result<void> get_ext_report(GuestDevice& dev, Request& r, std::size_t certs_len, const std::string& origin) {
    std::size_t len = round_to_pages(certs_len);
    for (int attempt = 0;; ++attempt) {
        r.certs.assign(len, 0);
        snp_ext_report_req ext{};
        ext.data = r.req;
        ext.certs_address = reinterpret_cast<std::uintptr_t>(r.certs.data());
        ext.certs_len = static_cast<std::uint32_t>(len);
        snp_guest_request_ioctl io{};
        io.msg_version = kMsgVersion;
        io.req_data = reinterpret_cast<std::uintptr_t>(&ext);
        io.resp_data = reinterpret_cast<std::uintptr_t>(&r.resp);
        const int rc = dev.ioctl(SNP_GET_EXT_REPORT, &io);
        if (rc == 0) return {};
        const bool too_small = (rc == -EIO || rc == -ENOSPC) && vmm_error(io.exitinfo2) == kVmmErrInvalidLen;
        if (!too_small) return std::unexpected(request_error(origin, "SNP_GET_EXT_REPORT", rc, io.exitinfo2));
        // The certs buffer was too small. This is the one case that is asked
        // again, and it is not a retry of a failed request: the host answered
        // SW_EXITINFO2 = 0x1_0000_0000 with the pages it needs in RBX (GHCB spec
        // v2, SNP Extended Guest Request), and the driver then re-issued the
        // same message as a plain guest request so the message sequence numbers
        // stay in step and the VMPCK stays enabled (drivers/virt/coco/sev-guest,
        // "retry ... without the extended data request ... to avoid IV reuse"),
        // and copied the needed length back into certs_len. So we send one new
        // request with a buffer of that size, once.
        const std::size_t needed = ext.certs_len;
        if (attempt > 0 || needed <= len || needed > kMaxCertsLen) {
            Error e = request_error(origin, "SNP_GET_EXT_REPORT", rc, io.exitinfo2);
            e.message += ": certificate buffer of " + std::to_string(len) + " bytes too small, host asks for " +
                         std::to_string(needed) + (attempt > 0 ? " after growing once" : " (not a usable size)");
            return std::unexpected(e);
        }
        len = round_to_pages(needed);
    }
}

}  // namespace

Result<Evidence> SevGuestSource::fetch(const ReportData& report_data) {
    Request r;
    std::copy(report_data.begin(), report_data.end(), std::begin(r.req.user_data));
    r.req.vmpl = options_.vmpl;
    auto sent = options_.extended ? get_ext_report(*device_, r, options_.certs_len, origin_)
                                  : get_report(*device_, r, origin_);
    if (!sent) return std::unexpected(sent.error());

    const std::uint8_t* rsp = r.resp.data;
    const std::uint32_t status = load_le32(rsp + kReportRspStatusOffset);
    const std::uint32_t size = load_le32(rsp + kReportRspSizeOffset);
    if (status != kFwStatusSuccess) {
        std::string why = status == kFwStatusInvalidParam
                              ? " (INVALID_PARAM: e.g. VMPL " + std::to_string(options_.vmpl) +
                                    " is below the guest's current VMPL)"
                              : "";
        return fail(ErrorCode::Internal,
                    origin_ + ": firmware MSG_REPORT_RSP STATUS " + hex64(status) + why + "; not retried", status);
    }
    if (size != kReportSize || kReportRspReportOffset + size > sizeof r.resp.data) {
        return fail(ErrorCode::InvalidInput, origin_ + ": MSG_REPORT_RSP REPORT_SIZE (offset 0x4) is " +
                                                 std::to_string(size) + ", expected " + std::to_string(kReportSize));
    }
    const ByteView raw(rsp + kReportRspReportOffset, size);
    auto report = check_fresh_report(raw, report_data, options_.vmpl, origin_);
    if (!report) return std::unexpected(report.error());

    Evidence ev;
    ev.kind = EvidenceKind::SevGuest;
    ev.report.assign(raw.begin(), raw.end());
    ev.origin = origin_;
    if (options_.extended) {
        auto table = parse_cert_table(r.certs, origin_ + " certificate table");
        if (!table) return std::unexpected(table.error());
        ev.certs = known_certificates(*table);
    }
    return ev;
}

}  // namespace cvmunlock::snp
