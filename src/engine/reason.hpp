// Why an unlock did not happen, as a type: every front end maps a Refusal
// through this one table to its exit code, plugin errno, journal REASON field
// and label, and picks "the most relevant" refusal by its rank. Nobody
// classifies an error by searching its text.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cvmunlock/error.hpp"
#include "cvmunlock/exit_code.hpp"
#include "cvmunlock/refusal.hpp"
#include "snp_gate.hpp"

namespace cvmunlock::engine {

enum class Reason {
    NoToken,             // the LUKS2 header has no cvmunlock token
    HeaderUnacceptable,  // the LUKS2 header fails validation (cipher, keyslots, JSON)
    HeaderAltered,       // the header contradicts what the vTPM sealed, or two reads of it differ
    SnpRefused,          // SEV-SNP evidence missing, unverifiable or outside the policy
    SrkMismatch,         // another or a reset vTPM
    PcrChanged,          // a sealed PCR differs from its enrolled value
    Locked,              // the lock PCR was extended: this boot already ran `cvmunlock lock`
    PinLockout,          // the vTPM is in dictionary-attack lockout: no PIN try is possible
    PinWrong,            // the vTPM refused the PIN
    PinNeeded,           // the token needs a PIN and none was given
    TpmTimeout,          // the vTPM stopped answering within the time limits
    Unavailable,         // no vTPM reachable, or the device or a file it needs is missing
    InvalidInput,        // a malformed file, token or argument
    Internal,            // a library failed in a way we did not expect
};

struct ReasonInfo {
    std::string_view name;  // journal field CVMUNLOCK_REASON, JSON "reason_code"
    int exit_code;
    int plugin_errno;       // what the token plugin returns (negative errno)
    int rank;               // higher: more relevant when several tokens were refused
};

const ReasonInfo& reason_info(Reason reason) noexcept;

struct Refusal {
    Reason reason = Reason::Internal;
    std::string message;                  // one line naming what and where
    std::int64_t native = 0;              // TSS2_RC, errno, ... when one exists
    std::optional<int> token;             // the token it concerns, when one does
    HashAlg bank = HashAlg::Sha256;       // the token's PCR bank (for `changes`)
    std::vector<PcrChange> changes;       // which sealed PCRs changed, and the event when known
    std::optional<SnpVerdict> snp;        // the SEV-SNP gate's verdict, when it ran
    std::vector<std::string> tried;       // with several tokens: one line per token refused

    // "token 0: PCR 7 (sha256) changed since enrollment: ...; first differing event #4 ...".
    [[nodiscard]] std::string summary() const;
};

template <typename T>
using Decision = std::expected<T, Refusal>;

inline std::unexpected<Refusal> refuse(Reason reason, std::string message, std::int64_t native = 0) {
    Refusal r;
    r.reason = reason;
    r.message = std::move(message);
    r.native = native;
    return std::unexpected<Refusal>(std::move(r));
}

// An Error from a step whose failure means `meaning` (e.g. reading the header
// -> HeaderUnacceptable), except errors that say something else whatever the
// step: a TPM that timed out or is unreachable, malformed input, internal failures.
Refusal refusal_from(const Error& error, Reason meaning);

// Of several refusals (one per token), the one to report: the highest rank;
// the others become its `tried` lines.
Refusal most_relevant(std::vector<Refusal> refusals);

}  // namespace cvmunlock::engine
