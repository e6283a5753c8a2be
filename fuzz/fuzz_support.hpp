// Shared pieces of the libFuzzer targets: the input cap and the invariant check.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace cvmunlock::fuzz {

// Real event logs are tens of KiB; 1 MiB leaves room while keeping each run fast.
// run.sh passes the same value as -max_len.
inline constexpr std::size_t kMaxInputSize = std::size_t{1} << 20;

// libFuzzer: returning -1 keeps an input out of the corpus.
inline constexpr int kRejectInput = -1;

// A broken invariant is a finding: abort so libFuzzer saves the input. Not assert(),
// which the optimised fuzz build compiles out.
[[noreturn]] inline void invariant_failed(const char* what, const std::string& detail = {}) {
    std::fprintf(stderr, "fuzz invariant failed: %s%s%s\n", what, detail.empty() ? "" : ": ", detail.c_str());
    std::abort();
}

inline void require(bool ok, const char* what, const std::string& detail = {}) {
    if (!ok) invariant_failed(what, detail);
}

}  // namespace cvmunlock::fuzz
