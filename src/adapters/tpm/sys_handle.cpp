#include "sys_handle.hpp"

namespace cvmunlock::tpm {

SysHandle::~SysHandle() { flush_now(); }

void SysHandle::flush_now() noexcept {
    // A failed flush is left alone, as in ObjectHandle: the resource manager
    // drops the context when the connection closes.
    if (sys_ != nullptr && handle_ != 0) Tss2_Sys_FlushContext(sys_, handle_);
    handle_ = 0;
}

Result<TSS2_SYS_CONTEXT*> sys_context(TpmContext& tpm) {
    TSS2_SYS_CONTEXT* sys = nullptr;
    if (TSS2_RC rc = Esys_GetSysContext(tpm.esys(), &sys); rc != TSS2_RC_SUCCESS || sys == nullptr) {
        return std::unexpected(tpm.error("reaching the SAPI context", rc));
    }
    return sys;
}

TSS2L_SYS_AUTH_COMMAND password_auth() {
    TSS2L_SYS_AUTH_COMMAND auths{};
    auths.count = 1;
    auths.auths[0].sessionHandle = TPM2_RS_PW;
    return auths;
}

}  // namespace cvmunlock::tpm
