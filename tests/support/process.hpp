// Running a program from a test and capturing its exit code and output.
#pragma once

#include <string>
#include <vector>

namespace cvmunlock::testing {

struct ProcessResult {
    int exit_code = -1;  // 128 + signal when killed by a signal
    std::string out;
    std::string err;
};

// Runs argv[0] (looked up in PATH) with extra environment entries "K=V".
ProcessResult run_process(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {});

}  // namespace cvmunlock::testing
