// A TCTI in front of the one tpm2-tss loads that bounds the time spent waiting
// for the TPM and records every command code sent.
//
// Synchronous ESAPI calls wait for the TPM without a limit (they ignore
// Esys_SetTimeout), and the swtpm and device TCTIs block in recv/write. So
// the inner TCTI is initialized and each command is run (transmit + receive)
// on a worker thread, and the caller waits at most the per-command timeout
// and what is left of the overall budget. A command that does not finish in
// time fails with TSS2_TCTI_RC_IO_ERROR and leaves the TCTI stuck: every later
// command fails at once, and the inner TCTI is left to the worker (finalized
// only if the TPM ever answers), so nothing is freed under it.
#pragma once

#include <tss2/tss2_tcti.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cvmunlock/error.hpp"

namespace cvmunlock::tpm {

// How long we wait for the TPM: per command, and in total per TPM connection
// (the sum of the waits, so time spent on a PIN prompt does not count).
struct TpmLimits {
    std::chrono::milliseconds command{10'000};
    std::chrono::milliseconds total{30'000};
};

// What stalled: the command (0 while the TCTI itself was being initialized)
// and how long we waited for it.
struct TpmStall {
    std::uint32_t command_code = 0;
    std::chrono::milliseconds waited{0};
    bool budget_exhausted = false;  // the overall budget, not the per-command timeout, ran out
};

class GuardedTcti {
public:
    // Loads `conf` with Tss2_TctiLdr_Initialize within limits.command.
    static Result<std::unique_ptr<GuardedTcti>> open(const std::string& conf, TpmLimits limits);
    ~GuardedTcti();
    GuardedTcti(const GuardedTcti&) = delete;
    GuardedTcti& operator=(const GuardedTcti&) = delete;

    // The TCTI to give to Esys_Initialize.
    TSS2_TCTI_CONTEXT* context() noexcept;
    [[nodiscard]] const std::vector<std::uint32_t>& command_codes() const noexcept;
    // Set once a command (or the initialization) did not finish in time.
    [[nodiscard]] const std::optional<TpmStall>& stall() const noexcept;
    [[nodiscard]] const TpmLimits& limits() const noexcept;

    struct Impl;

private:
    explicit GuardedTcti(std::unique_ptr<Impl> impl) noexcept;
    std::unique_ptr<Impl> impl_;
};

// "the vTPM did not answer TPM2_Unseal within 10 s (TPM command timeout 10 s)".
std::string describe_stall(const TpmStall& stall, const TpmLimits& limits);

// describe_stall for the TCTI under an ESAPI context, when it is a GuardedTcti
// that stalled; nullopt otherwise.
std::optional<std::string> stall_message(TSS2_TCTI_CONTEXT* tcti);

}  // namespace cvmunlock::tpm
