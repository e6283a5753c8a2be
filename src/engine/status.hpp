// `cvmunlock status` and `cvmunlock lock`: what the front ends show and do
// with the vTPM outside an unlock, decided here so that they reach no adapter.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "reason.hpp"
#include "settings.hpp"
#include "unseal.hpp"

namespace cvmunlock::engine {

struct PcrState {
    std::uint32_t pcr = 0;
    bool lock = false;
    std::optional<Bytes> enrolled;  // from the token
    std::optional<Bytes> current;   // from the vTPM, when it answered
};

struct TokenState {
    FoundToken found;
    std::vector<PcrState> pcrs;
    std::optional<bool> srk_matches;  // unset without a vTPM
    // explain_refusal()'s changes (the comparison an unseal makes); unset when
    // the vTPM's PCRs could not be read.
    std::optional<std::vector<PcrChange>> changes;
};

struct VolumeStatus {
    std::vector<TokenState> tokens;
    std::optional<Error> tpm_error;  // set when the vTPM could not be asked
};

// What a token's next unseal would meet, judged from its state.
struct TokenVerdict {
    std::optional<Reason> problem;       // SrkMismatch, PcrChanged, Unavailable (no vTPM); unset: matches
    bool locked = false;                 // the lock PCR was extended (expected after `cvmunlock lock`)
    std::vector<std::uint32_t> changed;  // sealed PCRs (not the lock PCR) that differ
    std::string message;                 // one line when `problem` is set
};
TokenVerdict token_verdict(const TokenState& state);

// The volume's verdict for `status`: no cvmunlock token (NoToken), no vTPM
// (Unavailable or TpmTimeout), a token whose SRK or sealed PCRs changed
// (SrkMismatch, PcrChanged; the first such token); unset when every token
// still matches. An extended lock PCR alone is no problem.
std::optional<Refusal> status_refusal(const VolumeStatus& status);

// The cvmunlock tokens of `device` and, from the vTPM at `target`, whether
// their SRK and sealed PCRs still match. A missing vTPM is reported, not an error.
Result<VolumeStatus> volume_status(const std::string& device, const TpmTarget& target);

// Extends `pcr` in every allocated bank with kLockMeasurement.
Result<void> lock_boot(const TpmTarget& target, std::uint32_t pcr);

}  // namespace cvmunlock::engine
