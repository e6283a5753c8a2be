// Enrollment and wiping killed at arbitrary points never lose the volume: the
// key the user had still opens it with stock cryptsetup.
#include <gtest/gtest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "process.hpp"
#include "swtpm.hpp"

extern char** environ;

namespace cvmunlock {
namespace {

using testing::run_process;

// Starts argv, kills it with SIGKILL after `delay` unless it finished; returns true if it was killed.
bool run_and_kill(std::vector<std::string> argv, std::chrono::microseconds delay) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return false;
    std::this_thread::sleep_for(delay);
    const bool killed = ::kill(pid, SIGKILL) == 0;
    int status = 0;
    ::waitpid(pid, &status, 0);
    return killed && WIFSIGNALED(status);
}

class CrashSafety : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(swtpm.ok()) << swtpm.error();
        dir = swtpm.state_dir() + "/work";
        std::filesystem::create_directories(dir);
        std::ofstream(dir + "/K") << "correct horse";
        ASSERT_EQ(run_process({"truncate", "-s", "32M", dir + "/base"}).exit_code, 0);
        auto r = run_process({"cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode", "--pbkdf", "pbkdf2",
                              "--pbkdf-force-iterations", "1000", "--key-file", dir + "/K", dir + "/base"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    bool key_opens(const std::string& img) {
        return run_process({"cryptsetup", "open", "--test-passphrase", "--key-file", dir + "/K", img}).exit_code == 0;
    }
    std::vector<std::string> enroll(const std::string& img) {
        return {CVMUNLOCK_CLI, "enroll", img, "--tpm", swtpm.tcti(), "--pcrs", "7", "--unlock-key-file", dir + "/K",
                "--recovery-key",
                "--wipe-slot=cvmunlock"};
    }
    testing::Swtpm swtpm;
    std::string dir;
};

TEST_F(CrashSafety, KilledEnrollAndWipeNeverLoseTheUserKey) {
    std::mt19937 rng(20261123);
    int killed = 0;
    const std::string img = dir + "/img";
    std::filesystem::copy_file(dir + "/base", img);
    for (int i = 0; i < 24; ++i) {
        const auto delay = std::chrono::microseconds(std::uniform_int_distribution<int>(0, 400000)(rng));
        const bool wipe = i % 3 == 2;
        std::vector<std::string> argv = wipe ? std::vector<std::string>{CVMUNLOCK_CLI, "wipe", img, "--unlock-key-file", dir + "/K"} : enroll(img);
        killed += run_and_kill(argv, delay) ? 1 : 0;
        // swtpm over TCP has no resource manager: a killed process leaves its transient
        // objects and sessions loaded. The kernel's /dev/tpmrm0 flushes them when the
        // process dies; do the same here so the TPM does not run out of slots.
        run_process({"tpm2_flushcontext", "-T", swtpm.tcti(), "--transient-object"});
        run_process({"tpm2_flushcontext", "-T", swtpm.tcti(), "--loaded-session"});
        ASSERT_TRUE(key_opens(img)) << "after iteration " << i << " (killed after " << delay.count() << " us)";
        // Whatever state the kill left, the tools still read the header and cvmunlock fails cleanly or works.
        auto status = run_process({CVMUNLOCK_CLI, "unlock", "--test", "--tpm", swtpm.tcti(), img});
        EXPECT_LE(status.exit_code, 5) << status.err;  // 5: no token (the kill came before it was added)
    }
    EXPECT_GT(killed, 0);  // the kills did land mid-run
    auto r = run_process(enroll(img));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(run_process({CVMUNLOCK_CLI, "unlock", "--test", "--tpm", swtpm.tcti(), img}).exit_code, 0);
    EXPECT_TRUE(key_opens(img));
}

}  // namespace
}  // namespace cvmunlock
