// An ESAPI auth session, flushed when it goes out of scope.
#pragma once

#include <tss2/tss2_esys.h>

#include <utility>

#include "srk.hpp"

namespace cvmunlock::tpm {

class Session {
public:
    // Salted with the SRK (the salt travels encrypted to the SRK's key) and
    // AES-128-CFB parameter encryption when `srk` is given; unsalted otherwise.
    static Result<Session> start(TpmContext& tpm, const Srk* srk, TPM2_SE type, TPMA_SESSION attrs);
    Session(Session&& o) noexcept : esys_(o.esys_), handle_(std::exchange(o.handle_, ESYS_TR_NONE)) {}
    Session& operator=(Session&&) = delete;
    Session(const Session&) = delete;
    ~Session() {
        if (handle_ != ESYS_TR_NONE) Esys_FlushContext(esys_, handle_);
    }
    [[nodiscard]] ESYS_TR get() const noexcept { return handle_; }
    // The TPM flushed it (continueSession clear): nothing left to flush.
    void consumed() noexcept { handle_ = ESYS_TR_NONE; }

private:
    Session(ESYS_CONTEXT* e, ESYS_TR h) noexcept : esys_(e), handle_(h) {}
    ESYS_CONTEXT* esys_;
    ESYS_TR handle_;
};

}  // namespace cvmunlock::tpm
