// The storage root key: the standard TCG ECC P-256 SRK, persistent at
// 0x81000001 when present (and matching the template) or created as a
// transient primary from the same template.
#pragma once

#include <tss2/tss2_esys.h>

#include "cvmunlock/bytes.hpp"
#include "sys_handle.hpp"
#include "tpm_context.hpp"

namespace cvmunlock::tpm {

inline constexpr TPM2_HANDLE kSrkPersistentHandle = 0x81000001;

// An object handle in an ESYS context; flushed on destruction when transient.
class ObjectHandle {
public:
    ObjectHandle() noexcept = default;
    ObjectHandle(ESYS_CONTEXT* esys, ESYS_TR handle, bool flush) noexcept : esys_(esys), handle_(handle), flush_(flush) {}
    ~ObjectHandle();
    ObjectHandle(ObjectHandle&& o) noexcept;
    ObjectHandle& operator=(ObjectHandle&& o) noexcept;
    ObjectHandle(const ObjectHandle&) = delete;
    ObjectHandle& operator=(const ObjectHandle&) = delete;
    [[nodiscard]] ESYS_TR get() const noexcept { return handle_; }
    // Keeps the handle loaded (e.g. after EvictControl made it persistent).
    void keep() noexcept { flush_ = false; }
    // Flushes a transient handle now (a persistent one stays usable).
    void flush_now() noexcept;

private:
    ESYS_CONTEXT* esys_ = nullptr;
    ESYS_TR handle_ = ESYS_TR_NONE;
    bool flush_ = false;
};

struct Srk {
    // ESAPI's handle. A persistent SRK found by its name (unlock) is read
    // through SAPI and gets one only when an ESAPI command needs it
    // (esys_handle): ESAPI would hash its name again in a library context of
    // its own (tpm2-tss 3.2), which costs more than the command under TCG.
    mutable ObjectHandle handle;
    Bytes name;           // TPM name (nameAlg || H(public)), as stored in the token
    bool persistent = false;
    TPM2B_PUBLIC pub{};   // the public area whose name is `name`
    TPM2_HANDLE tpm_handle = 0;
    // A transient SRK created through SAPI (unlock: ESAPI would hash its name
    // once more); `handle` then only refers to it and never flushes it.
    SysHandle created;
};

// Flushes a transient SRK now, however it was created; a persistent one stays.
void flush_transient(Srk& srk) noexcept;

// The SRK's ESAPI handle, opened on first use; Tampered if the key ESAPI
// reads there is not the one named `srk.name`.
Result<ESYS_TR> esys_handle(TpmContext& tpm, const Srk& srk);

// The SRK template of the TCG "TPM 2.0 Provisioning Guidance" (ECC NIST P-256,
// AES-128-CFB, restricted decrypt, noDA, empty unique).
TPM2B_PUBLIC srk_template();

// Uses 0x81000001 if it holds a key of the SRK template; otherwise creates the
// transient primary, and with `persist` makes it persistent at 0x81000001.
// With `expected_name` (unlock), a persistent key with that name is used as is:
// the name already proves it is the enrolled SRK, so its template is not re-read;
// and a transient one is created through SAPI (its ESAPI handle made on demand).
Result<Srk> load_srk(TpmContext& tpm, bool persist, const Bytes* expected_name = nullptr);

}  // namespace cvmunlock::tpm
