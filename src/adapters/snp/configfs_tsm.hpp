// SEV-SNP reports through the kernel's configfs-tsm interface (Linux 6.7+,
// Documentation/ABI/testing/configfs-tsm-report): one directory per request
// under /sys/kernel/config/tsm/report with the attributes
//   provider   (RO) the backend, "sev_guest" for SNP
//   privlevel  (WO) VMPL to request, optional
//   privlevel_floor (RO) the lowest privlevel the kernel accepts
//   inblob     (WO) 64 bytes of REPORT_DATA
//   outblob    (RO) the report, produced when read
//   auxblob    (RO) the host's certificate table (same format as SNP_GET_EXT_REPORT's)
//   generation (RO) counts writes to the entry; a change between our write and
//              our reads means someone else wrote and the outblob is not ours.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"
#include "cvmunlock/snp_source.hpp"

namespace cvmunlock::snp {

inline constexpr const char* kTsmReportDir = "/sys/kernel/config/tsm/report";
inline constexpr const char* kTsmProviderSnp = "sev_guest";

// The seam to configfs: the real one uses syscalls, tests a fake that behaves
// like the kernel. Errors carry errno as the native value; ENOENT is NotFound.
class TsmFs {
public:
    virtual ~TsmFs() = default;
    virtual Result<void> mkdir(const std::string& path) = 0;
    virtual Result<void> rmdir(const std::string& path) = 0;
    virtual Result<Bytes> read_file(const std::string& path) = 0;
    virtual Result<void> write_file(const std::string& path, ByteView data) = 0;  // one write(2)
};

std::unique_ptr<TsmFs> make_real_tsm_fs();

// A directory entry under the report dir, removed (rmdir) by the destructor.
class TsmEntry {
public:
    // mkdir of `<report_dir>/<prefix>-<pid>-<random>`: Unavailable when the
    // report dir is missing (no configfs-tsm), Internal on other errors.
    static Result<TsmEntry> create(TsmFs& fs, const std::string& report_dir, const std::string& prefix = "cvmunlock");
    TsmEntry(TsmEntry&& other) noexcept;
    TsmEntry& operator=(TsmEntry&&) = delete;
    TsmEntry(const TsmEntry&) = delete;
    ~TsmEntry();

    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] std::string attr(const char* name) const { return path_ + "/" + name; }

private:
    TsmEntry(TsmFs& fs, std::string path) : fs_(&fs), path_(std::move(path)) {}
    TsmFs* fs_;
    std::string path_;
};

// The provider of a fresh entry (trailing newline removed); the entry is removed again.
Result<std::string> probe_tsm_provider(TsmFs& fs, const std::string& report_dir = kTsmReportDir);

struct TsmOptions {
    std::string report_dir = kTsmReportDir;
    std::optional<std::uint32_t> privlevel;  // unset: the kernel's default (its privlevel_floor)
};

class TsmSource final : public ReportSource {
public:
    explicit TsmSource(std::unique_ptr<TsmFs> fs, TsmOptions options = {});

    [[nodiscard]] EvidenceKind kind() const noexcept override { return EvidenceKind::Tsm; }
    // One report per call, never repeated: a provider other than sev_guest and
    // a generation race (the outblob is not ours) are Unavailable, a
    // REPORT_DATA mismatch is Tampered, a throttled request Unavailable.
    Result<Evidence> fetch(const ReportData& report_data) override;

private:
    std::unique_ptr<TsmFs> fs_;
    TsmOptions options_;
};

}  // namespace cvmunlock::snp
