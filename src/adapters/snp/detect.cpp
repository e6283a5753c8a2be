// Classification of the raw environment (pure; the reads are in detect_read.cpp).
#include "detect.hpp"

#include <array>
#include <utility>

namespace cvmunlock::snp {

namespace {

// SEV_STATUS (MSR 0xC001_0131) bits: AMD64 APM vol. 2 "SEV_STATUS MSR" and
// Linux arch/x86/include/asm/msr-index.h (MSR_AMD64_SEV_*, MSR_AMD64_SNP_*).
namespace sev_bit {
constexpr unsigned kSev = 0;
constexpr unsigned kSevEs = 1;
constexpr unsigned kSnp = 2;
}  // namespace sev_bit

constexpr std::array<std::pair<unsigned, const char*>, 15> kSnpFeatureBits{{
    {3, "vTOM"},
    {4, "ReflectVC"},
    {5, "RestrictedInjection"},
    {6, "AlternateInjection"},
    {7, "DebugSwap"},
    {8, "PreventHostIBS"},
    {9, "BTBIsolation"},
    {10, "VmplSSS"},
    {11, "SecureTSC"},
    {12, "VmgexitParameter"},
    {14, "IbsVirtualization"},
    {16, "VmsaRegProt"},
    {17, "SmtProtection"},
    {18, "SecureAVIC"},
    {23, "IbpbOnEntry"},
}};

// CPUID Fn8000_001F (AMD64 APM vol. 3, appendix E.4.17).
namespace mem_encrypt {
constexpr std::uint32_t kEaxSev = 1U << 1;
constexpr std::uint32_t kEaxSevEs = 1U << 3;
constexpr std::uint32_t kEaxSnp = 1U << 4;
constexpr std::uint32_t kEaxVmpl = 1U << 5;
constexpr std::uint32_t kEbxCbitMask = 0x3f;
constexpr unsigned kEbxPhysReductionShift = 6;
constexpr unsigned kEbxVmplCountShift = 12;
}  // namespace mem_encrypt

// Hyper-V TLFS; Linux hyperv-tlfs.h HV_ISOLATION, HV_PARAVISOR_PRESENT, HV_ISOLATION_TYPE.
constexpr std::uint32_t kHvFeaturesEbxIsolation = 1U << 22;
constexpr std::uint32_t kHvIsolationEaxParavisor = 1U << 0;
constexpr std::uint32_t kHvIsolationEbxTypeMask = 0xf;
constexpr std::uint32_t kHvIsolationTypeSnp = 2;
constexpr const char* kHypervVendor = "Microsoft Hv";

bool bit(std::uint64_t v, unsigned n) { return ((v >> n) & 1U) != 0; }

CpuidClaims cpuid_claims(const RawEnvironment& raw) {
    CpuidClaims c;
    if (!raw.mem_encrypt) return c;
    const CpuidRegs& r = *raw.mem_encrypt;
    c.sev = (r.eax & mem_encrypt::kEaxSev) != 0;
    c.sev_es = (r.eax & mem_encrypt::kEaxSevEs) != 0;
    c.snp = (r.eax & mem_encrypt::kEaxSnp) != 0;
    c.vmpl = (r.eax & mem_encrypt::kEaxVmpl) != 0;
    c.c_bit = r.ebx & mem_encrypt::kEbxCbitMask;
    c.phys_addr_reduction = (r.ebx >> mem_encrypt::kEbxPhysReductionShift) & 0x3f;
    c.vmpl_count = (r.ebx >> mem_encrypt::kEbxVmplCountShift) & 0xf;
    return c;
}

Paravisor paravisor_of(const RawEnvironment& raw) {
    Paravisor p;
    p.hypervisor = raw.hv_vendor;
    p.hyperv = raw.hv_vendor == kHypervVendor;
    if (!p.hyperv) return p;
    p.isolation = raw.hv_features && (raw.hv_features->ebx & kHvFeaturesEbxIsolation) != 0;
    if (p.isolation && raw.hv_isolation) {
        p.isolation_type = raw.hv_isolation->ebx & kHvIsolationEbxTypeMask;
        p.paravisor_present = (raw.hv_isolation->eax & kHvIsolationEaxParavisor) != 0;
        static const char* const names[] = {"none", "vbs", "snp", "tdx"};
        p.isolation_name = p.isolation_type < 4 ? names[p.isolation_type] : "type " + std::to_string(p.isolation_type);
    }
    return p;
}

Platform platform_from_status(std::uint64_t status) {
    if (bit(status, sev_bit::kSnp)) return Platform::SevSnp;
    if (bit(status, sev_bit::kSevEs)) return Platform::SevEs;
    if (bit(status, sev_bit::kSev)) return Platform::Sev;
    return Platform::None;
}

Platform platform_from_cpuid(const CpuidClaims& c) {
    if (c.snp) return Platform::SevSnp;
    if (c.sev_es) return Platform::SevEs;
    if (c.sev) return Platform::Sev;
    return Platform::None;
}

bool kernel_snp_driver(const RawEnvironment& raw) {
    return raw.sev_guest.exists || (raw.tsm_provider && *raw.tsm_provider == kTsmProviderSnp);
}

// The verdict and what it rests on.
void decide_platform(const RawEnvironment& raw, Detection& d) {
    if (raw.sev_status) {
        d.platform = platform_from_status(*raw.sev_status);
        d.basis = Basis::SevStatusMsr;
        d.verified = true;
        const Platform claimed = platform_from_cpuid(d.cpuid);
        if (claimed != Platform::None && d.platform == Platform::None) {
            d.notes.push_back("CPUID advertises " + std::string(platform_name(claimed)) +
                              " but SEV_STATUS shows it is not active in this guest (CPUID names capabilities)");
        }
        return;
    }
    d.notes.push_back("SEV_STATUS MSR not read: " + raw.sev_status_error +
                      ". CPUID alone is not proof: a platform named without SEV_STATUS is a claim, not verified");
    if (kernel_snp_driver(raw)) {
        d.platform = Platform::SevSnp;
        d.basis = Basis::KernelDriver;
    } else if (d.paravisor.hyperv && d.paravisor.isolation_type == kHvIsolationTypeSnp) {
        d.platform = Platform::SevSnp;
        d.basis = Basis::HypervIsolation;
    } else if (raw.hypervisor) {
        d.platform = platform_from_cpuid(d.cpuid);
        d.basis = Basis::Cpuid;
    } else {
        d.basis = Basis::Cpuid;
        if (platform_from_cpuid(d.cpuid) != Platform::None) {
            d.notes.push_back(
                "CPUID advertises SEV features but no hypervisor is present: this is a host, not a guest");
        }
    }
}

std::string summary_of(const Detection& d) {
    std::string s = platform_name(d.platform);
    if (d.verified) return s + " (from the SEV_STATUS MSR)";
    switch (d.basis) {
        case Basis::KernelDriver: return s + " (claimed, not verified: the kernel's SNP guest driver is present)";
        case Basis::HypervIsolation: return s + " (claimed, not verified: Hyper-V CPUID reports SNP isolation)";
        case Basis::Cpuid:
        case Basis::SevStatusMsr: break;
    }
    if (d.platform == Platform::None) return s + " (no SEV claim in CPUID; SEV_STATUS not read)";
    return s + " (claimed by CPUID only, not verified)";
}

void list_sources(const RawEnvironment& raw, Detection& d) {
    SourceStatus guest{EvidenceKind::SevGuest, "/dev/sev-guest", raw.sev_guest.exists && raw.sev_guest.accessible, ""};
    guest.reason = guest.usable ? "device present and accessible"
                   : raw.sev_guest.exists ? "device present but not accessible: " + raw.sev_guest.error
                                          : "no device (" + raw.sev_guest.error + ")";
    d.sources.push_back(guest);

    SourceStatus tsm{EvidenceKind::Tsm, kTsmReportDir, false, ""};
    if (!raw.tsm_report_dir) {
        tsm.reason = "no configfs-tsm report directory (Linux 6.7+ with configfs mounted)";
    } else if (!raw.tsm_provider) {
        tsm.reason = "provider unknown: " + raw.tsm_error;
    } else if (*raw.tsm_provider != kTsmProviderSnp) {
        tsm.reason = "provider is '" + *raw.tsm_provider + "', not '" + kTsmProviderSnp + "'";
    } else {
        tsm.usable = true;
        tsm.reason = "provider sev_guest";
    }
    d.sources.push_back(tsm);

    SourceStatus hcl{EvidenceKind::AzureHcl, "vTPM NV 0x01400001", false, ""};
    const bool azure_snp = d.paravisor.hyperv && d.paravisor.isolation_type == kHvIsolationTypeSnp &&
                           d.paravisor.paravisor_present;
    if (!azure_snp) {
        hcl.reason = "not a Hyper-V SNP-isolated guest with a paravisor";
    } else if (!raw.tpm_device) {
        hcl.reason = "Hyper-V SNP paravisor, but no TPM device";
    } else {
        hcl.usable = true;
        hcl.reason = "Hyper-V SNP paravisor and a TPM: the HCL report is expected in NV (not read by this check)";
    }
    d.sources.push_back(hcl);
}

}  // namespace

const char* platform_name(Platform p) noexcept {
    switch (p) {
        case Platform::None: return "none";
        case Platform::Sev: return "sev";
        case Platform::SevEs: return "sev-es";
        case Platform::SevSnp: return "sev-snp";
    }
    return "none";
}

const char* basis_name(Basis b) noexcept {
    switch (b) {
        case Basis::SevStatusMsr: return "sev-status-msr";
        case Basis::KernelDriver: return "kernel-snp-driver";
        case Basis::HypervIsolation: return "hyperv-cpuid";
        case Basis::Cpuid: return "cpuid";
    }
    return "cpuid";
}

std::vector<std::string> sev_status_features(std::uint64_t sev_status) {
    std::vector<std::string> out;
    for (unsigned n = 3; n < 64; ++n) {
        if (!bit(sev_status, n)) continue;
        const char* name = nullptr;
        for (const auto& [b, feature] : kSnpFeatureBits) {
            if (b == n) name = feature;
        }
        out.push_back(name ? name : "bit " + std::to_string(n));
    }
    return out;
}

Detection classify_environment(const RawEnvironment& raw) {
    Detection d;
    d.cpuid = cpuid_claims(raw);
    d.paravisor = paravisor_of(raw);
    decide_platform(raw, d);
    if (raw.sev_status) {
        d.sev_status = raw.sev_status;
        d.snp_features = sev_status_features(*raw.sev_status);
    }
    d.summary = summary_of(d);
    list_sources(raw, d);
    if (d.platform == Platform::SevSnp && !d.sources[0].usable && !d.sources[1].usable && !d.sources[2].usable) {
        d.notes.push_back("SEV-SNP but no usable evidence source: load the sev-guest module or run as root");
    }
    if (d.paravisor.hyperv && d.paravisor.isolation && !raw.hv_isolation) {
        d.notes.push_back("Hyper-V reports isolation but CPUID 0x4000000C is not available");
    }
    if (raw.sev_status && !bit(*raw.sev_status, sev_bit::kSnp) && kernel_snp_driver(raw)) {
        d.notes.push_back("an SNP guest driver is present although SEV_STATUS says SNP is not active");
    }
    return d;
}

}  // namespace cvmunlock::snp
