// tpm2-tss return codes to our Error, once, at the edge.
#pragma once

#include <cstdint>
#include <string>

#include "cvmunlock/error.hpp"

typedef struct ESYS_CONTEXT ESYS_CONTEXT;

namespace cvmunlock::tpm {

// TSS2_RC to an Error: the decoded text and the code as native value.
// TCTI-layer failures (no device, connection refused) are Unavailable.
Error tss_error(const std::string& what, std::uint32_t rc);

// The Error for a failed ESAPI call: when the TPM behind `esys` stopped
// answering (GuardedTcti), ErrorCode::TimedOut naming the stalled command and
// the limit; otherwise tss_error.
Error esys_error(ESYS_CONTEXT* esys, const std::string& what, std::uint32_t rc);

}  // namespace cvmunlock::tpm
