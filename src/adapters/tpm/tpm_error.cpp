#include "tpm_error.hpp"

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>

#include <cstdio>

#include "guarded_tcti.hpp"

namespace cvmunlock::tpm {

namespace {
// TCTI-layer failures (no device, connection refused) mean "no TPM here".
bool is_tcti_unavailable(TSS2_RC rc) {
    const TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
    return layer == TSS2_TCTI_RC_LAYER || (rc & 0xFFFF) == TSS2_BASE_RC_IO_ERROR ||
           (rc & 0xFFFF) == TSS2_BASE_RC_NOT_SUPPORTED;
}

}  // namespace

Error tss_error(const std::string& what, std::uint32_t rc) {
    char code[16];
    std::snprintf(code, sizeof code, "0x%08x", rc);
    return Error(is_tcti_unavailable(rc) ? ErrorCode::Unavailable : ErrorCode::Internal,
                 what + ": " + Tss2_RC_Decode(rc) + " (" + code + ")", rc);
}

Error esys_error(ESYS_CONTEXT* esys, const std::string& what, std::uint32_t rc) {
    TSS2_TCTI_CONTEXT* tcti = nullptr;
    if (esys != nullptr && Esys_GetTcti(esys, &tcti) == TSS2_RC_SUCCESS) {
        if (auto stall = stall_message(tcti)) return Error(ErrorCode::TimedOut, what + ": " + *stall, rc);
    }
    return tss_error(what, rc);
}

}  // namespace cvmunlock::tpm
