// Inputs that are not what a command expects are refused at once, naming the
// path: a FIFO where a file or a block device is expected would block forever
// on open (waiting for a writer), a directory has no content.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <string>

#include "process.hpp"
#include "temp_dir.hpp"

namespace cvmunlock {
namespace {

using testing::run_process;

struct Case {
    const char* what;
    std::vector<std::string> args;  // "@" stands for the path under test
};

class CliInputs : public ::testing::Test {
protected:
    void SetUp() override {
        fifo = (dir.path() / "fifo").string();
        ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
        folder = dir.sub("folder");
    }
    // Runs `cvmunlock ARGS` with "@" replaced by `path`, under a 20 s guard (timeout's 124 = it blocked).
    static testing::ProcessResult run(std::vector<std::string> args, const std::string& path) {
        for (auto& a : args) {
            if (a == "@") a = path;
        }
        args.insert(args.begin(), {"timeout", "20", CVMUNLOCK_CLI});
        return run_process(args);
    }
    testing::TempDir dir;
    std::string fifo, folder;
};

TEST_F(CliInputs, FifoOrDirectoryIsRefusedNamingIt) {
    const std::string key = dir.write("key", "passphrase");
    const std::vector<Case> cases = {
        {"event log", {"eventlog", "show", "--eventlog", "@"}},
        {"event log to verify", {"eventlog", "verify", "--eventlog", "@", "--expected", "@"}},
        {"device to unlock", {"unlock", "--test", "--tpm", "swtpm:host=127.0.0.1,port=1", "@"}},
        {"device to enroll", {"enroll", "@", "--tpm", "swtpm:host=127.0.0.1,port=1", "--unlock-key-file", key}},
        {"device of status", {"status", "@", "--tpm", "swtpm:host=127.0.0.1,port=1"}},
        {"device to wipe", {"wipe", "@"}},
        {"SNP report", {"snp", "report", "@"}},
    };
    for (const auto& c : cases) {
        for (const auto& [kind, path] : {std::pair{"a FIFO", fifo}, std::pair{"a directory", folder}}) {
            SCOPED_TRACE(std::string(c.what) + " that is " + kind);
            const auto r = run(c.args, path);
            EXPECT_NE(r.exit_code, 124) << "blocked on " << path;
            EXPECT_NE(r.exit_code, 0) << r.out << r.err;
            EXPECT_NE(r.err.find(path + ": is " + kind), std::string::npos) << r.err;
        }
    }
}

}  // namespace
}  // namespace cvmunlock
