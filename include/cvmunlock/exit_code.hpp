// Exit codes of every cvmunlock command (docs/cli.md). Refusal reasons map to
// them in one table (src/engine/reason.cpp).
#pragma once

namespace cvmunlock {

enum ExitCode : int {
    kExitOk = 0,
    kExitRefused = 1,      // a check failed or policy refused
    kExitUsage = 2,        // bad arguments
    kExitMalformed = 3,    // malformed input (the message names what and where)
    kExitUnavailable = 4,  // environment unavailable: no TPM, no event log, a TPM that stopped answering
    kExitNoToken = 5,      // the volume has no cvmunlock token: nothing to do
};

}  // namespace cvmunlock
