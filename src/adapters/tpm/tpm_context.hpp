// ESAPI connection to a TPM through a TCTI loaded by Tss2_TctiLdr.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/pcr_source.hpp"

#include <tss2/tss2_esys.h>

#include "counting_tcti.hpp"

namespace cvmunlock::tpm {

inline constexpr const char* kDefaultTcti = "device:/dev/tpmrm0";
inline constexpr const char* kTctiEnv = "CVMUNLOCK_TCTI";

// --tpm value if given, else $CVMUNLOCK_TCTI, else the default device.
std::string resolve_tcti(const std::string& option);

// TSS2_RC to an Error: decoded text, the code as native value.
Error tss_error(const std::string& what, std::uint32_t rc);

class TpmContext final : public PcrSource {
public:
    // Loads the TCTI and starts ESAPI. A TCTI that cannot reach its TPM gives
    // ErrorCode::Unavailable.
    static Result<std::unique_ptr<TpmContext>> open(const std::string& tcti);
    ~TpmContext() override;
    TpmContext(const TpmContext&) = delete;
    TpmContext& operator=(const TpmContext&) = delete;

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
    [[nodiscard]] const std::vector<std::uint32_t>& command_codes() const noexcept { return counter_->command_codes(); }

private:
    explicit TpmContext(TSS2_TCTI_CONTEXT* tcti) noexcept;
    TSS2_TCTI_CONTEXT* tcti_ = nullptr;
    std::unique_ptr<CountingTcti> counter_;
    ESYS_CONTEXT* esys_ = nullptr;
};

}  // namespace cvmunlock::tpm
