// Is this an SEV / SEV-ES / SEV-SNP guest, what does the SNP platform enable,
// is there a Hyper-V paravisor, and which evidence sources can be used?
// The raw reads (CPUID, the SEV_STATUS MSR, device and configfs paths) are
// thin and take their paths as parameters; the verdict is a pure function
// over them, so every combination can be tested. CPUID is whatever the
// hypervisor says it is and never counts as proof; the verdict is "verified"
// only when it rests on the SEV_STATUS MSR, which the hardware sets and the
// kernel itself relies on. (Proof for a remote party is the signed report.)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "configfs_tsm.hpp"
#include "cvmunlock/snp_source.hpp"

namespace cvmunlock::snp {

// CPUID leaves: AMD64 APM vol. 3 appendix E (Fn0000_0001, Fn8000_001F) and the
// Hyper-V TLFS (0x4000_0000 vendor, 0x4000_0003 features, 0x4000_000C isolation).
inline constexpr std::uint32_t kCpuidFeatures = 0x00000001;     // ECX bit 31: hypervisor present
inline constexpr std::uint32_t kCpuidAmdMemEncrypt = 0x8000001F;
inline constexpr std::uint32_t kCpuidHvVendor = 0x40000000;
inline constexpr std::uint32_t kCpuidHvFeatures = 0x40000003;   // EBX bit 22: isolation
inline constexpr std::uint32_t kCpuidHvIsolation = 0x4000000C;  // EAX bit 0 paravisor, EBX 3:0 type
inline constexpr std::uint32_t kMsrSevStatus = 0xC0010131;      // MSR_AMD64_SEV

struct CpuidRegs {
    std::uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

struct PathState {
    bool exists = false;
    bool accessible = false;  // openable read-write by this process
    std::string error;        // why not, when not
};

// Everything detection looks at, as read (or as a test makes it up).
struct RawEnvironment {
    bool cpuid_available = false;
    bool hypervisor = false;                // CPUID 1 ECX bit 31
    std::optional<CpuidRegs> mem_encrypt;   // Fn8000_001F; nullopt when the max extended leaf is lower
    std::string hv_vendor;                  // 0x40000000 EBX,ECX,EDX ("Microsoft Hv", "KVMKVMKVM")
    std::uint32_t hv_max_leaf = 0;          // 0x40000000 EAX
    std::optional<CpuidRegs> hv_features;   // 0x40000003
    std::optional<CpuidRegs> hv_isolation;  // 0x4000000C
    std::optional<std::uint64_t> sev_status;
    std::string sev_status_error;           // why the MSR was not read
    PathState sev_guest;                    // /dev/sev-guest
    bool tsm_report_dir = false;            // /sys/kernel/config/tsm/report
    std::optional<std::string> tsm_provider;
    std::string tsm_error;
    bool tpm_device = false;                // /dev/tpmrm0 (the HCL report lives in vTPM NV)
};

enum class Platform { None, Sev, SevEs, SevSnp };
const char* platform_name(Platform p) noexcept;  // "none", "sev", "sev-es", "sev-snp"

// What the platform verdict rests on.
enum class Basis {
    SevStatusMsr,     // SEV_STATUS read: proof
    KernelDriver,     // MSR not read, but the kernel bound its SNP guest driver (/dev/sev-guest, tsm sev_guest)
    HypervIsolation,  // MSR not read, Hyper-V CPUID says SNP isolation: a claim
    Cpuid,            // MSR not read, CPUID Fn8000_001F only: a claim
};
const char* basis_name(Basis b) noexcept;  // "sev-status-msr", "kernel-snp-driver", "hyperv-cpuid", "cpuid"

struct CpuidClaims {
    bool sev = false, sev_es = false, snp = false, vmpl = false;  // Fn8000_001F EAX bits 1, 3, 4, 5
    std::uint32_t c_bit = 0;                // EBX 5:0
    std::uint32_t phys_addr_reduction = 0;  // EBX 11:6
    std::uint32_t vmpl_count = 0;           // EBX 15:12
};

struct Paravisor {
    std::string hypervisor;         // CPUID 0x40000000 vendor, "" when none
    bool hyperv = false;            // "Microsoft Hv"
    bool isolation = false;         // 0x40000003 EBX bit 22
    std::uint32_t isolation_type = 0;  // 0x4000000C EBX 3:0
    std::string isolation_name = "none";  // none, vbs, snp, tdx, "type N"
    bool paravisor_present = false;       // 0x4000000C EAX bit 0
};

struct SourceStatus {
    EvidenceKind kind = EvidenceKind::SevGuest;
    std::string where;
    bool usable = false;
    std::string reason;
};

struct Detection {
    Platform platform = Platform::None;
    Basis basis = Basis::Cpuid;
    bool verified = false;  // true only when the verdict rests on SEV_STATUS
    std::string summary;    // one line; says "claimed, not verified" unless verified
    std::optional<std::uint64_t> sev_status;
    std::vector<std::string> snp_features;  // names of the SEV_STATUS bits 3 and up that are set
    CpuidClaims cpuid;
    Paravisor paravisor;
    std::vector<SourceStatus> sources;  // sev-guest, tsm, azure-hcl, in order of preference
    std::vector<std::string> notes;
    std::optional<std::uint32_t> vmpl;  // known only from a fetched report
};

// SEV_STATUS feature names for bits 3.. (Linux msr-index.h MSR_AMD64_SNP_*);
// an unnamed set bit is "bit N".
std::vector<std::string> sev_status_features(std::uint64_t sev_status);
Detection classify_environment(const RawEnvironment& raw);

// --- raw reads ---
struct EnvironmentPaths {
    std::string msr = "/dev/cpu/0/msr";
    std::string sev_guest = "/dev/sev-guest";
    std::string tsm_report_dir = kTsmReportDir;
    std::string tpm = "/dev/tpmrm0";
};

std::optional<CpuidRegs> read_cpuid(std::uint32_t leaf);  // nullopt above the reported maximum
void read_cpuid_inputs(RawEnvironment& raw);
// pread of 8 bytes at offset `msr` of the msr device (the msr driver's ABI).
Result<std::uint64_t> read_msr(const std::string& msr_device, std::uint32_t msr);
// The non-CPUID inputs: MSR, device paths, configfs-tsm provider (probed with
// mkdir/rmdir of an entry, which does not talk to the firmware).
void read_path_inputs(RawEnvironment& raw, const EnvironmentPaths& paths, TsmFs& fs);
RawEnvironment read_environment(const EnvironmentPaths& paths, TsmFs& fs);

}  // namespace cvmunlock::snp
