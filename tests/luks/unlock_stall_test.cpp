// A vTPM that stops answering must not hang the boot: `unlock` and `enroll`
// give up within the TPM time limits (per command, and in all), name the
// command that got no answer, and enroll writes nothing. The vTPM is a real
// swtpm behind a proxy that passes commands through and stops before the k-th,
// for every k of a run; and a SIGSTOPped swtpm.
#include <signal.h>

#include <chrono>

#include "settings.hpp"
#include "tpm/tpm_names.hpp"
#include "tpm_proxy.hpp"
#include "unlock_fixture.hpp"

namespace cvmunlock::unlock_test {
namespace {

using Clock = std::chrono::steady_clock;
using testing::StallingTpmProxy;

// Small limits so that every k fits in the suite's time; the defaults are checked once below.
const std::vector<std::string> kFastLimits = {"--tpm-command-timeout", "1s", "--tpm-timeout", "5s"};

class UnlockStall : public UnlockSwtpm {
protected:
    // What a stalled run leaves loaded in swtpm (no resource manager over TCP):
    // flushed, as the kernel's /dev/tpmrm0 does when a process ends.
    void flush_leftovers() {
        tpm2({"tpm2_flushcontext", "--transient-object"});
        tpm2({"tpm2_flushcontext", "--loaded-session"});
    }

    ProcessResult enroll_through(const std::string& tcti, const std::string& img, const std::vector<std::string>& extra) {
        std::vector<std::string> args = {"enroll", img, "--tpm", tcti, "--unlock-key-file", key_file, "--pcrs", "7"};
        args.insert(args.end(), extra.begin(), extra.end());
        return cli(args);
    }

    // Runs `run(tcti)` once through a pass-through proxy to learn its
    // commands, then once per command k with the proxy stalling before k:
    // every run must fail with exit 4 within `bound`, naming command k, and
    // `after` checks what it left.
    template <typename Run, typename After>
    void stall_before_every_command(Run run, std::chrono::milliseconds bound, After after) {
        std::vector<std::uint32_t> codes;
        {
            StallingTpmProxy counting(testing::tcti_port(tpm.tcti()), 0);
            ASSERT_TRUE(counting.ok());
            const ProcessResult r = run(counting.tcti());
            ASSERT_EQ(r.exit_code, 0) << "through a proxy that never stalls: " << show(r);
            codes = counting.commands();
        }
        ASSERT_FALSE(codes.empty());
        after(false);
        for (std::size_t k = 1; k <= codes.size(); ++k) {
            const std::string name = "TPM2_" + tpm::command_name(codes[k - 1]);
            SCOPED_TRACE("stalled before command " + std::to_string(k) + " of " + std::to_string(codes.size()) +
                         " (" + name + ")");
            ProcessResult r;
            std::chrono::milliseconds took{0};
            {
                // swtpm serves one connection at a time: the proxy goes before anything else talks to it.
                StallingTpmProxy proxy(testing::tcti_port(tpm.tcti()), static_cast<int>(k));
                ASSERT_TRUE(proxy.ok());
                const auto start = Clock::now();
                r = run(proxy.tcti());
                took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
                EXPECT_TRUE(proxy.stalled());
            }
            EXPECT_EQ(r.exit_code, 4) << show(r);
            EXPECT_TRUE(contains(r.err, "the vTPM did not answer " + name + " within")) << r.err;
            EXPECT_LT(took, bound) << show(r);
            flush_leftovers();
            after(true);
        }
    }
};

TEST_F(UnlockStall, UnlockGivesUpNamingEveryCommandTheVtpmLeavesUnanswered) {
    ASSERT_EQ(enroll(image, {"--pcrs", "7"}).exit_code, 0);
    auto unlock_through = [&](const std::string& tcti) {
        std::vector<std::string> extra = kFastLimits;
        return unlock(image, extra, tcti);
    };
    // 1 s for the stalled command, plus process start and the commands before it.
    stall_before_every_command(unlock_through, std::chrono::milliseconds(4000), [&](bool) {
        EXPECT_EQ(unlock(image).exit_code, 0) << "the volume must still unlock once the vTPM answers again";
    });
}

TEST_F(UnlockStall, EnrollGivesUpAndWritesNothing) {
    const std::string before = read_file(image);
    auto enroll_run = [&](const std::string& tcti) {
        const std::string img = path("enroll.img");
        write_file(img, before);
        return enroll_through(tcti, img, kFastLimits);
    };
    stall_before_every_command(enroll_run, std::chrono::milliseconds(4000), [&](bool stalled) {
        if (stalled) {
            EXPECT_EQ(read_file(path("enroll.img")), before) << "a stalled enroll changed the image";
        }
    });
}

// The documented defaults (10 s per command, 30 s in all) bound a vTPM that
// never answers the first command: well within the boot's patience.
TEST_F(UnlockStall, DefaultLimitsBoundAVtpmThatNeverAnswers) {
    ASSERT_EQ(enroll(image, {"--pcrs", "7"}).exit_code, 0);
    StallingTpmProxy proxy(testing::tcti_port(tpm.tcti()), 1);
    ASSERT_TRUE(proxy.ok());
    const auto start = Clock::now();
    const ProcessResult r = unlock(image, {}, proxy.tcti());
    const auto took = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start);
    EXPECT_EQ(r.exit_code, 4) << show(r);
    EXPECT_TRUE(contains(r.err, "within 10 s (TPM command timeout 10 s)")) << r.err;
    EXPECT_GE(took.count(), 9);
    EXPECT_LE(took.count(), 20);
}

// A SIGSTOPped swtpm accepts the connection (the kernel does) and answers
// nothing: `unlock --test` exits within a minute with the defaults.
TEST_F(UnlockStall, StoppedSwtpmIsGivenUpOn) {
    ASSERT_EQ(enroll(image, {"--pcrs", "7"}).exit_code, 0);
    ASSERT_EQ(::kill(tpm.pid(), SIGSTOP), 0);
    const auto start = Clock::now();
    const ProcessResult r = unlock(image);
    const auto took = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start);
    ::kill(tpm.pid(), SIGCONT);
    EXPECT_EQ(r.exit_code, 4) << show(r);
    // The swtpm TCTI sets the locality on swtpm's control channel first: that
    // is the exchange that gets no answer.
    EXPECT_TRUE(contains(r.err, "the vTPM did not answer")) << r.err;
    EXPECT_LT(took.count(), 60);
}

// The limits come from /etc/cvmunlock/cvmunlock.conf, then the kernel command
// line, then the options; a bad value is named where it is.
TEST_F(UnlockStall, BadLimitIsRefusedNamingIt) {
    const ProcessResult r = unlock(image, {"--tpm-timeout", "soon"});
    EXPECT_EQ(r.exit_code, 3) << show(r);
    EXPECT_TRUE(contains(r.err, "--tpm-timeout")) << r.err;
    EXPECT_TRUE(contains(r.err, "soon")) << r.err;
}

// The boot's knobs, layered once for every front end (engine/settings.hpp):
// built-in defaults, /etc/cvmunlock/cvmunlock.conf, the kernel command line,
// then the run's own options.
TEST_F(UnlockStall, LimitsLayerDefaultsFileKernelCommandLineOptions) {
    using std::chrono::milliseconds;
    engine::SettingsSources none{path("absent.conf"), path("absent-cmdline")};
    auto d = engine::tpm_limits({}, none);
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->command, milliseconds(10000));
    EXPECT_EQ(d->total, milliseconds(30000));

    write_file(path("cvmunlock.conf"), "[TPM]\nCommandTimeoutSec=7\nTimeoutSec=70\n");
    write_file(path("cmdline"), "root=/dev/mapper/root quiet cvmunlock.tpm_timeout=50s\n");
    engine::SettingsSources both{path("cvmunlock.conf"), path("cmdline")};
    auto l = engine::tpm_limits({}, both);
    ASSERT_TRUE(l) << l.error().message;
    EXPECT_EQ(l->command, milliseconds(7000));
    EXPECT_EQ(l->total, milliseconds(50000));
    Settings options;
    options.tpm_command_timeout = milliseconds(2000);
    l = engine::tpm_limits(options, both);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->command, milliseconds(2000));
    EXPECT_EQ(l->total, milliseconds(50000));

    write_file(path("broken.conf"), "[TPM]\nTimeoutSec=later\n");
    auto bad = engine::tpm_limits({}, {path("broken.conf"), path("cmdline")});
    ASSERT_FALSE(bad);
    EXPECT_TRUE(contains(bad.error().message, path("broken.conf") + ":2")) << bad.error().message;
}

}  // namespace
}  // namespace cvmunlock::unlock_test
