// ESAPI connection to a TPM through a TCTI loaded by Tss2_TctiLdr.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/pcr_source.hpp"

#include <tss2/tss2_esys.h>

#include "esys_ptr.hpp"
#include "guarded_tcti.hpp"
#include "tpm_error.hpp"

namespace cvmunlock::tpm {

inline constexpr const char* kDefaultTcti = "device:/dev/tpmrm0";
inline constexpr const char* kTctiEnv = "CVMUNLOCK_TCTI";

// --tpm value if given, else $CVMUNLOCK_TCTI, else the default device.
std::string resolve_tcti(const std::string& option);

class TpmContext final : public PcrSource {
public:
    // Loads the TCTI and starts ESAPI. A TCTI that cannot reach its TPM gives
    // ErrorCode::Unavailable; a TPM that does not answer within `limits`,
    // ErrorCode::TimedOut (here or from any later command).
    static Result<std::unique_ptr<TpmContext>> open(const std::string& tcti, TpmLimits limits = {});
    ~TpmContext() override;
    TpmContext(const TpmContext&) = delete;
    TpmContext& operator=(const TpmContext&) = delete;

    // TPM2_GetCapability(cap, property, count), one call (what the TPM returns first).
    Result<EsysPtr<TPMS_CAPABILITY_DATA>> capability(TPM2_CAP cap, std::uint32_t property, std::uint32_t count,
                                                     const std::string& what);
    // Banks with at least one PCR allocated (TPM2_GetCapability, TPM_CAP_PCRS).
    Result<std::vector<HashAlg>> allocated_banks();
    Result<PcrValues> read_pcrs(const PcrSelection& selection) override;
    // TPM2_PCR_Extend with the platform's password session (empty auth).
    Result<void> extend(std::uint32_t pcr, const std::vector<EventDigest>& digests);

    struct Lockout {
        std::uint32_t counter = 0;    // TPM_PT_LOCKOUT_COUNTER
        std::uint32_t max_tries = 0;  // TPM_PT_MAX_AUTH_FAIL
        std::uint32_t interval = 0;   // TPM_PT_LOCKOUT_INTERVAL, seconds
    };
    // Dictionary-attack state, to refuse a PIN try that would lock the TPM out.
    Result<Lockout> lockout();

    ESYS_CONTEXT* esys() noexcept { return esys_; }
    // Command codes of every TPM command sent so far, in order.
    [[nodiscard]] const std::vector<std::uint32_t>& command_codes() const noexcept { return guard_->command_codes(); }

    // The Error for a failed ESAPI call `what`: names the stalled command and
    // the limit (ErrorCode::TimedOut) when the TPM stopped answering, else tss_error.
    [[nodiscard]] Error error(const std::string& what, std::uint32_t rc) const;
    // Set once a command got no answer in time (even one whose failure was
    // ignored, such as a flush in a destructor): the TimedOut error naming it.
    [[nodiscard]] std::optional<Error> stalled() const;

private:
    explicit TpmContext(std::unique_ptr<GuardedTcti> guard) noexcept;
    std::unique_ptr<GuardedTcti> guard_;
    ESYS_CONTEXT* esys_ = nullptr;
};

}  // namespace cvmunlock::tpm
