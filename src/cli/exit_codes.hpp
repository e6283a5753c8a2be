// Exit codes shared by every cvmunlock command (documented in --help and docs/cli.md).
#pragma once

#include "cvmunlock/error.hpp"

namespace cvmunlock::cli {

enum ExitCode : int {
    kExitOk = 0,
    kExitRefused = 1,       // a check failed or policy refused
    kExitUsage = 2,         // bad arguments
    kExitMalformed = 3,     // malformed input file (message names file and offset)
    kExitUnavailable = 4,   // environment unavailable: no TPM, no event log
};

inline int exit_code_for(const Error& e) {
    switch (e.code) {
        case ErrorCode::InvalidInput: return kExitMalformed;
        case ErrorCode::Unavailable: return kExitUnavailable;
        case ErrorCode::NotFound:
        case ErrorCode::PolicyRefused:
        case ErrorCode::Tampered: return kExitRefused;
        case ErrorCode::Internal: return kExitUnavailable;
    }
    return kExitRefused;
}

inline constexpr const char* kExitCodeHelp =
    "Exit codes: 0 success, 1 check failed or refused, 2 usage error, "
    "3 malformed input file, 4 environment unavailable (no TPM, no event log).";

}  // namespace cvmunlock::cli
