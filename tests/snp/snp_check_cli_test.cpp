// `cvmunlock snp check`: the formatting over synthetic detections, the command
// in a small CLI11 app on this host, and (snp_cli_binary_tests) the real binary.
#include <gtest/gtest.h>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "exit_codes.hpp"
#include "snp_check_cmd.hpp"

namespace cvmunlock::cli {
namespace {

snp::Detection claimed_snp() {
    snp::RawEnvironment raw;
    raw.cpuid_available = raw.hypervisor = true;
    raw.mem_encrypt = snp::CpuidRegs{(1U << 1) | (1U << 3) | (1U << 4), 0, 0, 0};
    raw.sev_status_error = "/dev/cpu/0/msr: No such file or directory";
    return snp::classify_environment(raw);
}

snp::Detection verified_snp() {
    snp::RawEnvironment raw;
    raw.cpuid_available = raw.hypervisor = true;
    raw.sev_status = 0x7 | (1ULL << 11);
    raw.sev_guest = snp::PathState{true, true, ""};
    return snp::classify_environment(raw);
}

TEST(SnpCheckJson, UnverifiedClaimSaysWhatItRestsOn) {
    const auto j = snp_check_json(claimed_snp(), std::nullopt);
    EXPECT_EQ(j["platform"], "sev-snp");
    EXPECT_EQ(j["verified"], false);
    EXPECT_EQ(j["basis"], "cpuid");
    EXPECT_NE(j["summary"].get<std::string>().find("claimed"), std::string::npos);
    EXPECT_TRUE(j["sev_status"].is_null());
    EXPECT_TRUE(j["vmpl"].is_null());
    EXPECT_EQ(j["vmpl_basis"], "unknown");
    EXPECT_TRUE(j["fetch"].is_null());
    EXPECT_EQ(j["ok"], true);
    ASSERT_EQ(j["sources"].size(), 3u);
    EXPECT_EQ(j["sources"][0]["kind"], "sev-guest");
    EXPECT_EQ(j["paravisor"]["isolation"], "none");
    EXPECT_EQ(snp_check_exit_code(std::nullopt), kExitOk);
}

TEST(SnpCheckJson, VerifiedSnpWithAFetchedVmpl) {
    SnpCheckFetch fetch{"sev-guest", true, 0u, "", 0};
    const auto j = snp_check_json(verified_snp(), fetch);
    EXPECT_EQ(j["platform"], "sev-snp");
    EXPECT_EQ(j["verified"], true);
    EXPECT_EQ(j["basis"], "sev-status-msr");
    EXPECT_EQ(j["sev_status"], "0x807");
    EXPECT_EQ(j["snp_features"], nlohmann::ordered_json::array({"SecureTSC"}));
    EXPECT_EQ(j["vmpl"], 0);
    EXPECT_EQ(j["fetch"]["ok"], true);
    EXPECT_EQ(snp_check_exit_code(fetch), kExitOk);
}

TEST(SnpCheckJson, FailedFetchCarriesTheErrorAndItsExitCode) {
    SnpCheckFetch fetch{"", false, std::nullopt, "no usable guest-request source (sev-guest, tsm)", kExitUnavailable};
    const auto j = snp_check_json(claimed_snp(), fetch);
    EXPECT_EQ(j["fetch"]["ok"], false);
    EXPECT_EQ(j["ok"], false);
    EXPECT_EQ(j["error"]["exit"], kExitUnavailable);
    EXPECT_NE(j["fetch"]["error"].get<std::string>().find("no usable"), std::string::npos);
    EXPECT_TRUE(j["vmpl"].is_null());
    EXPECT_EQ(snp_check_exit_code(fetch), kExitUnavailable);
}

TEST(SnpCheckText, NamesPlatformBasisSourcesAndVmpl) {
    const std::string t = snp_check_text(claimed_snp(), std::nullopt);
    EXPECT_NE(t.find("Platform:     sev-snp (claimed"), std::string::npos) << t;
    EXPECT_NE(t.find("cpuid (not verified)"), std::string::npos) << t;
    EXPECT_NE(t.find("VMPL:         unknown"), std::string::npos) << t;
    EXPECT_NE(t.find("sev-guest"), std::string::npos) << t;
    EXPECT_NE(t.find("azure-hcl"), std::string::npos) << t;
}

struct AppRun {
    int parse_code = 0;
    int exit_code = -1;
    std::string out;
};

AppRun run_app(std::vector<std::string> args) {
    CLI::App app("test", "cvmunlock");
    CLI::App* snp = app.add_subcommand("snp", "SEV-SNP");
    snp->require_subcommand(1);
    AppRun r;
    add_snp_check_command(*snp, r.exit_code);
    std::vector<const char*> argv{"cvmunlock"};
    for (const auto& a : args) argv.push_back(a.c_str());
    ::testing::internal::CaptureStdout();
    try {
        app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError& e) {
        r.parse_code = app.exit(e);
    }
    r.out = ::testing::internal::GetCapturedStdout();
    return r;
}

bool host_claims_sev() {
    snp::RawEnvironment raw;
    snp::read_cpuid_inputs(raw);
    const snp::Detection d = snp::classify_environment(raw);
    return d.cpuid.sev || d.paravisor.isolation || ::access("/dev/sev-guest", F_OK) == 0;
}

TEST(SnpCheckCommand, OnThisHostSaysNoneAndExitsZero) {
    if (host_claims_sev()) GTEST_SKIP() << "this host claims SEV; the test expects a plain VM";
    const AppRun r = run_app({"snp", "check", "--json"});
    ASSERT_EQ(r.parse_code, 0);
    EXPECT_EQ(r.exit_code, kExitOk);
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["platform"], "none");
    EXPECT_TRUE(j.contains("verified"));
    EXPECT_TRUE(j.contains("basis"));
    EXPECT_TRUE(j["vmpl"].is_null());
    for (const auto& s : j["sources"]) EXPECT_EQ(s["usable"], false) << s.dump();
}

TEST(SnpCheckCommand, FetchWithoutASourceFailsWithExitFour) {
    if (host_claims_sev()) GTEST_SKIP() << "this host claims SEV; the test expects a plain VM";
    const AppRun r = run_app({"snp", "check", "--json", "--fetch"});
    EXPECT_EQ(r.exit_code, kExitUnavailable);
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["fetch"]["ok"], false);
    EXPECT_EQ(j["ok"], false);
    EXPECT_EQ(j["error"]["exit"], kExitUnavailable);
}

TEST(SnpCheckCommand, HelpDocumentsTheExitCodeChoice) {
    const AppRun r = run_app({"snp", "check", "--help"});
    EXPECT_NE(r.out.find("0 when the check ran, whatever the platform"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--fetch"), std::string::npos);
}

}  // namespace
}  // namespace cvmunlock::cli
