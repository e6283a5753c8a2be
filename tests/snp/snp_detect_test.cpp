// Detection: the pure classification over synthetic CPUID/MSR/path inputs,
// and the thin raw reads pointed at temporary files.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "fake_guest.hpp"
#include "snp/detect.hpp"

namespace cvmunlock::snp {
namespace {

// SEV_STATUS bits and CPUID Fn8000_001F EAX bits used to build inputs.
constexpr std::uint64_t kStSev = 1, kStEs = 2, kStSnp = 4, kStVtom = 1ULL << 3, kStSecureTsc = 1ULL << 11,
                        kStSmtProt = 1ULL << 17, kStUnnamed = 1ULL << 40;
constexpr std::uint32_t kCpuSev = 1U << 1, kCpuEs = 1U << 3, kCpuSnp = 1U << 4;

RawEnvironment base() {
    RawEnvironment raw;
    raw.cpuid_available = true;
    raw.hypervisor = true;
    raw.hv_vendor = "KVMKVMKVM";
    raw.mem_encrypt = CpuidRegs{};
    raw.sev_status_error = "/dev/cpu/0/msr: No such file or directory";
    raw.sev_guest.error = "/dev/sev-guest: No such file or directory";
    return raw;
}

RawEnvironment with_msr(std::uint64_t status, std::uint32_t cpuid_eax) {
    RawEnvironment raw = base();
    raw.sev_status = status;
    raw.sev_status_error.clear();
    raw.mem_encrypt->eax = cpuid_eax;
    return raw;
}

RawEnvironment cpuid_only(std::uint32_t eax) {
    RawEnvironment raw = base();
    raw.mem_encrypt->eax = eax;
    return raw;
}

RawEnvironment with_device(RawEnvironment raw, bool accessible) {
    raw.sev_guest = PathState{true, accessible, accessible ? "" : "/dev/sev-guest: Permission denied"};
    return raw;
}

RawEnvironment with_tsm(RawEnvironment raw, const char* provider) {
    raw.tsm_report_dir = true;
    raw.tsm_provider = provider;
    return raw;
}

RawEnvironment hyperv(std::uint32_t isolation_type, bool paravisor, bool tpm) {
    RawEnvironment raw = base();
    raw.hv_vendor = "Microsoft Hv";
    raw.hv_max_leaf = 0x4000000C;
    raw.hv_features = CpuidRegs{0, 1U << 22, 0, 0};
    raw.hv_isolation = CpuidRegs{paravisor ? 1U : 0U, isolation_type | (1U << 5), 0, 0};
    raw.tpm_device = tpm;
    return raw;
}

struct Case {
    const char* name;
    RawEnvironment raw;
    Platform platform;
    Basis basis;
    bool verified;
    bool guest_usable, tsm_usable, hcl_usable;
    const char* paravisor_isolation;
    std::vector<std::string> features;
    const char* summary_has;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> cases() {
    RawEnvironment bare_metal = cpuid_only(kCpuSev | kCpuEs | kCpuSnp);
    bare_metal.hypervisor = false;
    bare_metal.hv_vendor.clear();
    RawEnvironment hv_no_leaf = hyperv(2, true, true);
    hv_no_leaf.hv_isolation.reset();
    return {
        {"NoSev", base(), Platform::None, Basis::Cpuid, false, false, false, false, "none", {}, "no SEV claim"},
        {"NoSevMsrReadsZero", with_msr(0, 0), Platform::None, Basis::SevStatusMsr, true, false, false, false, "none",
         {}, "SEV_STATUS"},
        {"SevViaMsr", with_msr(kStSev, kCpuSev), Platform::Sev, Basis::SevStatusMsr, true, false, false, false, "none",
         {}, "sev (from the SEV_STATUS"},
        {"SevEsViaMsr", with_msr(kStSev | kStEs, kCpuSev | kCpuEs), Platform::SevEs, Basis::SevStatusMsr, true, false,
         false, false, "none", {}, "sev-es"},
        {"SnpViaMsrWithFeatures",
         with_device(with_msr(kStSev | kStEs | kStSnp | kStSecureTsc | kStSmtProt | kStUnnamed,
                              kCpuSev | kCpuEs | kCpuSnp),
                     true),
         Platform::SevSnp, Basis::SevStatusMsr, true, true, false, false, "none",
         {"SecureTSC", "SmtProtection", "bit 40"}, "sev-snp (from the SEV_STATUS"},
        {"MsrOverridesCpuidClaim", with_msr(0, kCpuSev | kCpuEs | kCpuSnp), Platform::None, Basis::SevStatusMsr, true,
         false, false, false, "none", {}, "none"},
        {"CpuidOnlySnpIsAClaim", cpuid_only(kCpuSev | kCpuEs | kCpuSnp), Platform::SevSnp, Basis::Cpuid, false, false,
         false, false, "none", {}, "claimed by CPUID only"},
        {"CpuidOnlySevIsAClaim", cpuid_only(kCpuSev), Platform::Sev, Basis::Cpuid, false, false, false, false, "none",
         {}, "claimed"},
        {"BareMetalHostIsNotAGuest", bare_metal, Platform::None, Basis::Cpuid, false, false, false, false, "none", {},
         "none"},
        {"DevicePresentWithoutMsr", with_device(base(), true), Platform::SevSnp, Basis::KernelDriver, false, true,
         false, false, "none", {}, "claimed, not verified: the kernel"},
        {"DeviceNotAccessible", with_device(with_msr(kStSev | kStEs | kStSnp, kCpuSnp), false), Platform::SevSnp,
         Basis::SevStatusMsr, true, false, false, false, "none", {}, "sev-snp"},
        {"TsmSevGuestProvider", with_tsm(with_msr(kStSev | kStEs | kStSnp, kCpuSnp), "sev_guest"), Platform::SevSnp,
         Basis::SevStatusMsr, true, false, true, false, "none", {}, "sev-snp"},
        {"TsmWrongProvider", with_tsm(base(), "tdx_guest"), Platform::None, Basis::Cpuid, false, false, false, false,
         "none", {}, "none"},
        {"TsmProviderAloneIsKernelDriver", with_tsm(base(), "sev_guest"), Platform::SevSnp, Basis::KernelDriver, false,
         false, true, false, "none", {}, "claimed"},
        {"HypervSnpParavisor", hyperv(2, true, true), Platform::SevSnp, Basis::HypervIsolation, false, false, false,
         true, "snp", {}, "Hyper-V"},
        {"HypervSnpParavisorWithMsr",
         [] {
             RawEnvironment r = hyperv(2, true, true);
             r.sev_status = kStSev | kStEs | kStSnp | kStVtom;
             return r;
         }(),
         Platform::SevSnp, Basis::SevStatusMsr, true, false, false, true, "snp", {"vTOM"}, "sev-snp"},
        {"HypervSnpNoTpm", hyperv(2, true, false), Platform::SevSnp, Basis::HypervIsolation, false, false, false,
         false, "snp", {}, "claimed"},
        {"HypervSnpWithoutParavisor", hyperv(2, false, true), Platform::SevSnp, Basis::HypervIsolation, false, false,
         false, false, "snp", {}, "claimed"},
        {"HypervVbs", hyperv(1, true, true), Platform::None, Basis::Cpuid, false, false, false, false, "vbs", {},
         "none"},
        {"HypervTdx", hyperv(3, true, true), Platform::None, Basis::Cpuid, false, false, false, false, "tdx", {},
         "none"},
        {"HypervIsolationLeafMissing", hv_no_leaf, Platform::None, Basis::Cpuid, false, false, false, false, "none",
         {}, "none"},
    };
}

class Classify : public ::testing::TestWithParam<Case> {};

TEST_P(Classify, Verdict) {
    const Case& c = GetParam();
    const Detection d = classify_environment(c.raw);
    EXPECT_EQ(d.platform, c.platform) << platform_name(d.platform);
    EXPECT_EQ(d.basis, c.basis) << basis_name(d.basis);
    EXPECT_EQ(d.verified, c.verified);
    ASSERT_EQ(d.sources.size(), 3u);
    EXPECT_EQ(d.sources[0].kind, EvidenceKind::SevGuest);
    EXPECT_EQ(d.sources[0].usable, c.guest_usable) << d.sources[0].reason;
    EXPECT_EQ(d.sources[1].usable, c.tsm_usable) << d.sources[1].reason;
    EXPECT_EQ(d.sources[2].usable, c.hcl_usable) << d.sources[2].reason;
    EXPECT_EQ(d.paravisor.isolation_name, c.paravisor_isolation);
    for (const auto& f : c.features) {
        EXPECT_NE(std::find(d.snp_features.begin(), d.snp_features.end(), f), d.snp_features.end()) << f;
    }
    EXPECT_NE(d.summary.find(c.summary_has), std::string::npos) << d.summary;
    if (!d.verified) {
        // An unverified verdict must say so, in the summary or the notes.
        const bool says = d.summary.find("not verified") != std::string::npos ||
                          d.summary.find("not read") != std::string::npos;
        EXPECT_TRUE(says) << d.summary;
        EXPECT_FALSE(d.notes.empty());
    }
    EXPECT_FALSE(d.vmpl.has_value()) << "VMPL is only known from a report";
}

INSTANTIATE_TEST_SUITE_P(Table, Classify, ::testing::ValuesIn(cases()),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(Classify, ReasonsNameTheProviderAndPermission) {
    const Detection d = classify_environment(with_device(with_tsm(base(), "tdx_guest"), false));
    EXPECT_NE(d.sources[0].reason.find("Permission denied"), std::string::npos) << d.sources[0].reason;
    EXPECT_NE(d.sources[1].reason.find("tdx_guest"), std::string::npos) << d.sources[1].reason;
}

TEST(Classify, CpuidFieldsAreDecoded) {
    RawEnvironment raw = cpuid_only(kCpuSev | kCpuEs | kCpuSnp | (1U << 5));
    raw.mem_encrypt->ebx = 51U | (5U << 6) | (4U << 12);
    const Detection d = classify_environment(raw);
    EXPECT_TRUE(d.cpuid.snp && d.cpuid.sev_es && d.cpuid.sev && d.cpuid.vmpl);
    EXPECT_EQ(d.cpuid.c_bit, 51u);
    EXPECT_EQ(d.cpuid.phys_addr_reduction, 5u);
    EXPECT_EQ(d.cpuid.vmpl_count, 4u);
}

TEST(SevStatusFeatures, NamesEveryDocumentedBit) {
    const std::pair<unsigned, const char*> bits[] = {
        {3, "vTOM"}, {4, "ReflectVC"}, {5, "RestrictedInjection"}, {6, "AlternateInjection"}, {7, "DebugSwap"},
        {8, "PreventHostIBS"}, {9, "BTBIsolation"}, {10, "VmplSSS"}, {11, "SecureTSC"}, {12, "VmgexitParameter"},
        {13, "bit 13"}, {14, "IbsVirtualization"}, {16, "VmsaRegProt"}, {17, "SmtProtection"}};
    for (const auto& [b, name] : bits) {
        const auto f = sev_status_features((1ULL << b) | kStSev | kStEs | kStSnp);
        ASSERT_EQ(f.size(), 1u) << b;
        EXPECT_EQ(f[0], name);
    }
}

// ---- raw reads ----

std::string temp_dir(const std::string& name) {
    const std::string dir = ::testing::TempDir() + "snp_detect_" + name + "_" + std::to_string(::getpid());
    ::mkdir(dir.c_str(), 0700);
    return dir;
}

TEST(ReadMsr, ReadsEightBytesAtTheMsrOffset) {
    const std::string path = temp_dir("msr") + "/msr";
    {
        std::ofstream f(path, std::ios::binary);
        f.seekp(static_cast<std::streamoff>(kMsrSevStatus));
        const std::uint64_t v = 0x20007;  // SEV, ES, SNP, SmtProtection
        f.write(reinterpret_cast<const char*>(&v), sizeof v);
    }
    auto v = read_msr(path, kMsrSevStatus);
    ASSERT_TRUE(v.has_value()) << v.error().message;
    EXPECT_EQ(*v, 0x20007u);
    auto short_read = read_msr(path, kMsrSevStatus + 4);
    ASSERT_FALSE(short_read.has_value());
    EXPECT_NE(short_read.error().message.find("short read"), std::string::npos);
    auto missing = read_msr(path + ".missing", kMsrSevStatus);
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().native, ENOENT);
    EXPECT_NE(missing.error().message.find("modprobe msr"), std::string::npos);
}

TEST(ReadPathInputs, TempDirsStandInForDevicesAndConfigfs) {
    const std::string dir = temp_dir("paths");
    const std::string msr = dir + "/msr";
    {
        std::ofstream f(msr, std::ios::binary);
        f.seekp(static_cast<std::streamoff>(kMsrSevStatus));
        const std::uint64_t v = kStSev | kStEs | kStSnp;
        f.write(reinterpret_cast<const char*>(&v), sizeof v);
    }
    std::ofstream(dir + "/sev-guest").put('x');
    const std::string report_dir = dir + "/tsm-report";
    ::mkdir(report_dir.c_str(), 0700);
    testing::TestChain chain;
    testing::FakeTsmFs fs(chain, report_dir);
    RawEnvironment raw;
    read_path_inputs(raw, EnvironmentPaths{msr, dir + "/sev-guest", report_dir, dir + "/tpmrm0"}, fs);
    ASSERT_TRUE(raw.sev_status.has_value()) << raw.sev_status_error;
    EXPECT_EQ(*raw.sev_status, kStSev | kStEs | kStSnp);
    EXPECT_TRUE(raw.sev_guest.exists);
    EXPECT_TRUE(raw.tsm_report_dir);
    EXPECT_EQ(raw.tsm_provider.value_or(""), "sev_guest");
    EXPECT_TRUE(fs.entries.empty());
    EXPECT_FALSE(raw.tpm_device);
    const Detection d = classify_environment(raw);
    EXPECT_EQ(d.platform, Platform::SevSnp);
    EXPECT_TRUE(d.verified);
}

TEST(ReadPathInputs, RealConfigfsSeamOnAPlainDirectoryFindsNoProviderAndCleansUp) {
    const std::string report_dir = temp_dir("realfs");
    auto fs = make_real_tsm_fs();
    RawEnvironment raw;
    read_path_inputs(raw, EnvironmentPaths{"/nonexistent/msr", "/nonexistent/sev-guest", report_dir, "/nonexistent"},
                     *fs);
    EXPECT_TRUE(raw.tsm_report_dir);
    EXPECT_FALSE(raw.tsm_provider.has_value());
    EXPECT_NE(raw.tsm_error.find("provider"), std::string::npos) << raw.tsm_error;
    EXPECT_FALSE(raw.sev_status.has_value());
    EXPECT_FALSE(raw.sev_guest.exists);
    // The probe entry was removed again: the directory is empty.
    EXPECT_EQ(::rmdir(report_dir.c_str()), 0) << std::strerror(errno);
}

TEST(RealTsmFs, WritesAndReadsFiles) {
    const std::string dir = temp_dir("rw");
    auto fs = make_real_tsm_fs();
    ASSERT_TRUE(fs->mkdir(dir + "/entry").has_value());
    EXPECT_EQ(fs->mkdir(dir + "/entry").error().native, EEXIST);
    std::ofstream(dir + "/entry/inblob").put('\0');
    const Bytes data(64, 0xab);
    ASSERT_TRUE(fs->write_file(dir + "/entry/inblob", data).has_value());
    EXPECT_EQ(*fs->read_file(dir + "/entry/inblob"), data);
    EXPECT_EQ(fs->read_file(dir + "/entry/outblob").error().code, ErrorCode::NotFound);
    ::unlink((dir + "/entry/inblob").c_str());
    EXPECT_TRUE(fs->rmdir(dir + "/entry").has_value());
    EXPECT_EQ(fs->rmdir(dir + "/entry").error().code, ErrorCode::NotFound);
}

TEST(ReadCpuid, ThisHostAnswersTheBasicLeaf) {
    RawEnvironment raw;
    read_cpuid_inputs(raw);
    EXPECT_TRUE(raw.cpuid_available);
    EXPECT_TRUE(read_cpuid(0).has_value());
    EXPECT_FALSE(read_cpuid(0x7fffffff).has_value()) << "above the basic range's maximum";
}

}  // namespace
}  // namespace cvmunlock::snp
