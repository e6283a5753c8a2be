// The raw reads behind detection: CPUID, the SEV_STATUS MSR, device and configfs paths.
#include <cpuid.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "detect.hpp"

namespace cvmunlock::snp {

namespace {

constexpr std::uint32_t kHypervisorPresentEcx = 1U << 31;  // CPUID Fn0000_0001 ECX bit 31

PathState path_state(const std::string& path) {
    PathState s;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        s.error = path + ": " + std::strerror(errno);
        return s;
    }
    s.exists = true;
    if (::faccessat(AT_FDCWD, path.c_str(), R_OK | W_OK, AT_EACCESS) != 0) {
        s.error = path + ": " + std::strerror(errno) + " (run as root)";
        return s;
    }
    s.accessible = true;
    return s;
}

bool is_directory(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::optional<CpuidRegs> read_cpuid(std::uint32_t leaf) {
    CpuidRegs r;
    // __get_cpuid checks the leaf against the maximum of its range (basic or extended).
    if (__get_cpuid(leaf, &r.eax, &r.ebx, &r.ecx, &r.edx) == 0) return std::nullopt;
    return r;
}

void read_cpuid_inputs(RawEnvironment& raw) {
    const auto features = read_cpuid(kCpuidFeatures);
    raw.cpuid_available = features.has_value();
    if (!features) return;
    raw.hypervisor = (features->ecx & kHypervisorPresentEcx) != 0;
    raw.mem_encrypt = read_cpuid(kCpuidAmdMemEncrypt);
    if (!raw.hypervisor) return;
    // The hypervisor range 0x4000_0000.. is only defined when the hypervisor bit
    // is set; its maximum is EAX of the vendor leaf.
    CpuidRegs vendor;
    __cpuid(kCpuidHvVendor, vendor.eax, vendor.ebx, vendor.ecx, vendor.edx);
    char name[13] = {};
    std::memcpy(name, &vendor.ebx, 4);
    std::memcpy(name + 4, &vendor.ecx, 4);
    std::memcpy(name + 8, &vendor.edx, 4);
    raw.hv_vendor = name;
    while (!raw.hv_vendor.empty() && raw.hv_vendor.back() == ' ') raw.hv_vendor.pop_back();  // "bhyve bhyve "
    raw.hv_max_leaf = vendor.eax;
    auto leaf = [&raw](std::uint32_t n) -> std::optional<CpuidRegs> {
        if (raw.hv_max_leaf < n) return std::nullopt;
        CpuidRegs r;
        __cpuid(n, r.eax, r.ebx, r.ecx, r.edx);
        return r;
    };
    raw.hv_features = leaf(kCpuidHvFeatures);
    raw.hv_isolation = leaf(kCpuidHvIsolation);
}

Result<std::uint64_t> read_msr(const std::string& msr_device, std::uint32_t msr) {
    const int fd = ::open(msr_device.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        std::string hint = err == ENOENT ? " (modprobe msr)" : err == EACCES || err == EPERM ? " (run as root)" : "";
        return fail(ErrorCode::Unavailable, msr_device + ": " + std::strerror(err) + hint, err);
    }
    std::uint64_t value = 0;
    const ssize_t n = ::pread(fd, &value, sizeof value, static_cast<off_t>(msr));
    const int err = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(sizeof value)) {
        // The msr driver answers EIO when RDMSR faults: no such MSR (not AMD, not an SEV-capable guest).
        return fail(ErrorCode::Unavailable,
                    msr_device + ": reading MSR 0xc0010131 failed: " +
                        (n < 0 ? std::string(std::strerror(err)) : "short read") +
                        (n < 0 && err == EIO ? " (the MSR does not exist here)" : ""),
                    n < 0 ? err : 0);
    }
    return value;
}

void read_path_inputs(RawEnvironment& raw, const EnvironmentPaths& paths, TsmFs& fs) {
    if (auto status = read_msr(paths.msr, kMsrSevStatus)) {
        raw.sev_status = *status;
    } else {
        raw.sev_status_error = status.error().message;
    }
    raw.sev_guest = path_state(paths.sev_guest);
    raw.tsm_report_dir = is_directory(paths.tsm_report_dir);
    if (raw.tsm_report_dir) {
        if (auto provider = probe_tsm_provider(fs, paths.tsm_report_dir)) {
            raw.tsm_provider = *provider;
        } else {
            raw.tsm_error = provider.error().message;
        }
    }
    raw.tpm_device = path_state(paths.tpm).exists;
}

RawEnvironment read_environment(const EnvironmentPaths& paths, TsmFs& fs) {
    RawEnvironment raw;
    read_cpuid_inputs(raw);
    read_path_inputs(raw, paths, fs);
    return raw;
}

}  // namespace cvmunlock::snp
