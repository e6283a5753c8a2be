// A TPM handle used through SAPI (tpm2-tss's system API), flushed with
// TPM2_FlushContext when it goes out of scope.
#pragma once

#include <tss2/tss2_sys.h>

#include <utility>

#include "tpm_context.hpp"

namespace cvmunlock::tpm {

// A TPM handle (loaded object or session) used through SAPI, flushed when it
// goes out of scope unless the TPM already closed it.
class SysHandle {
public:
    SysHandle() noexcept = default;
    SysHandle(TSS2_SYS_CONTEXT* sys, TPM2_HANDLE handle) noexcept : sys_(sys), handle_(handle) {}
    SysHandle(SysHandle&& o) noexcept : sys_(o.sys_), handle_(std::exchange(o.handle_, 0)) {}
    SysHandle& operator=(SysHandle&& o) noexcept {
        if (this != &o) {
            flush_now();
            sys_ = o.sys_;
            handle_ = std::exchange(o.handle_, 0);
        }
        return *this;
    }
    SysHandle(const SysHandle&) = delete;
    ~SysHandle();
    [[nodiscard]] TPM2_HANDLE get() const noexcept { return handle_; }
    // The TPM closed it (a session used without continueSession).
    void consumed() noexcept { handle_ = 0; }
    // Flushes it now.
    void flush_now() noexcept;

private:
    TSS2_SYS_CONTEXT* sys_ = nullptr;
    TPM2_HANDLE handle_ = 0;
};

// The SAPI context under the TPM's ESAPI context.
Result<TSS2_SYS_CONTEXT*> sys_context(TpmContext& tpm);

// The password authorization (TPM_RS_PW, empty) for one handle.
TSS2L_SYS_AUTH_COMMAND password_auth();

}  // namespace cvmunlock::tpm
