// The TPM time limits as text: /etc/cvmunlock/cvmunlock.conf and the kernel
// command line (include/cvmunlock/config.hpp).
#include <gtest/gtest.h>

#include "cvmunlock/config.hpp"

namespace cvmunlock {
namespace {

using std::chrono::milliseconds;

TEST(Config, TimeSpansAreSystemdTimeSpans) {
    const std::pair<const char*, long> good[] = {{"10", 10000}, {"10s", 10000},   {"2.5s", 2500}, {"500ms", 500},
                                                 {"1min", 60000}, {"1min 30s", 90000}, {" 3s ", 3000}, {"1h", 3600000}};
    for (const auto& [text, ms] : good) {
        auto v = parse_timespan(text);
        ASSERT_TRUE(v) << text << ": " << v.error().message;
        EXPECT_EQ(v->count(), ms) << text;
    }
    for (const char* bad : {"", "0", "soon", "10 parsecs", "-5s", "2h", "infinity", "0.0001ms", "1e3"}) {
        auto v = parse_timespan(bad);
        ASSERT_FALSE(v) << "accepted \"" << bad << "\"";
        EXPECT_EQ(v.error().code, ErrorCode::InvalidInput);
    }
}

TEST(Config, FileSetsWhatItNamesAndRefusesWhatItDoesNotKnow) {
    auto s = parse_settings_file("# limits\n[TPM]\nCommandTimeoutSec=5\n; another comment\nTimeoutSec = 20s\n", "f");
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->tpm_command_timeout, milliseconds(5000));
    EXPECT_EQ(s->tpm_timeout, milliseconds(20000));
    auto only = parse_settings_file("[TPM]\nTimeoutSec=40\n", "f");
    ASSERT_TRUE(only);
    EXPECT_FALSE(only->tpm_command_timeout.has_value());
    const std::pair<const char*, const char*> bad[] = {
        {"[TPM]\nCommandTimeoutSek=5\n", "f:2: unknown key CommandTimeoutSek="},
        {"[Tpm]\n", "f:1: unknown section [Tpm]"},
        {"TimeoutSec=5\n", "f:1: TimeoutSec= outside a section"},
        {"[TPM]\nTimeoutSec=never\n", "f:2: TimeoutSec"},
        {"[TPM\n", "f:1: unterminated section header"},
        {"[TPM]\njunk\n", "f:2: expected Key=Value"},
    };
    for (const auto& [text, why] : bad) {
        auto r = parse_settings_file(text, "f");
        ASSERT_FALSE(r) << text;
        EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
    }
}

TEST(Config, KernelCommandLineSetsOnlyOurParameters) {
    auto s = parse_kernel_cmdline("BOOT_IMAGE=/vmlinuz root=/dev/mapper/root quiet cvmunlock.tpm_timeout=45s "
                                  "rd.cvmunlock.tpm_command_timeout=\"3s\" tpm_timeout=1\n");
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->tpm_timeout, milliseconds(45000));
    EXPECT_EQ(s->tpm_command_timeout, milliseconds(3000));
    auto bad = parse_kernel_cmdline("cvmunlock.tpm_timeout=later");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("cvmunlock.tpm_timeout"), std::string::npos) << bad.error().message;
}

TEST(Config, LaterLayersWin) {
    Settings s;
    s.tpm_timeout = milliseconds(1);
    s.tpm_command_timeout = milliseconds(2);
    Settings over;
    over.tpm_timeout = milliseconds(3);
    s.merge(over);
    EXPECT_EQ(s.tpm_timeout, milliseconds(3));
    EXPECT_EQ(s.tpm_command_timeout, milliseconds(2));
}

}  // namespace
}  // namespace cvmunlock
