// Exit codes shared by every cvmunlock command (documented in --help and
// docs/cli.md): errors outside an unlock decision; refusals map through
// engine/reason.hpp.
#pragma once

#include "cvmunlock/error.hpp"
#include "cvmunlock/exit_code.hpp"

namespace cvmunlock::cli {

// For errors outside an unlock decision (reading a log, parsing a report, ...).
inline int exit_code_for(const Error& e) {
    switch (e.code) {
        case ErrorCode::InvalidInput: return kExitMalformed;
        case ErrorCode::Unavailable:
        case ErrorCode::TimedOut: return kExitUnavailable;
        case ErrorCode::NotFound:
        case ErrorCode::PolicyRefused:
        case ErrorCode::Tampered: return kExitRefused;
        case ErrorCode::Internal: return kExitUnavailable;
    }
    return kExitRefused;
}

inline constexpr const char* kExitCodeHelp =
    "Exit codes: 0 success, 1 check failed or refused, 2 usage error, "
    "3 malformed input, 4 environment unavailable (no TPM, no event log, a TPM that stopped answering), "
    "5 the volume has no cvmunlock token.";

}  // namespace cvmunlock::cli
