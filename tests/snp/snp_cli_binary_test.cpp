// The built `cvmunlock snp check --json` on this host (no SEV-SNP here).
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "process.hpp"

namespace {

TEST(SnpCheckBinary, SaysPlatformNoneAndExitsZeroOnThisHost) {
    if (::access("/dev/sev-guest", F_OK) == 0) GTEST_SKIP() << "this host has /dev/sev-guest";
    const auto r = cvmunlock::testing::run_process({CVMUNLOCK_CLI, "snp", "check", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["platform"], "none");
    EXPECT_TRUE(j["vmpl"].is_null());
    EXPECT_TRUE(j.contains("basis"));
}

TEST(SnpCheckBinary, HelpStatesTheExitCodes) {
    const auto r = cvmunlock::testing::run_process({CVMUNLOCK_CLI, "snp", "check", "--help"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("whatever the platform"), std::string::npos) << r.out;
}

}  // namespace
