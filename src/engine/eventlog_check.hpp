// The one event-log check: the PCRs it compares (pcrs_to_compare, in every
// bank of the reference), the comparison (compare_pcrs) and how events are
// named (describe_event). `cvmunlock eventlog verify` and `agent check` both
// run it; a refusal names the event that changed with the same words.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/replay.hpp"
#include "settings.hpp"
#include "tpm/tpm_context.hpp"

namespace cvmunlock::engine {

// Missing log: ErrorCode::Unavailable ("no event log: ..."); malformed:
// InvalidInput with "<path>: at byte offset N ...".
Result<EventLog> load_event_log(const std::string& path);

// Expected PCR values from a JSON file (pcr_json.hpp), for `eventlog verify --expected`.
Result<PcrValues> load_expected_pcrs(const std::string& path);

struct EventLogCheck {
    EventLog log;
    ReplayResult replayed;
    Comparison comparison;
};

// Replays `log` and compares it with the TPM's PCRs, read in every allocated
// bank (or options.bank).
Result<EventLogCheck> check_event_log(EventLog log, tpm::TpmContext& tpm, const CompareOptions& options);

// The same, opening the vTPM at `target`.
Result<EventLogCheck> check_event_log(EventLog log, const TpmTarget& target, const CompareOptions& options);

// The boot agent's check: is the vTPM there, is the log there, and does it
// explain the vTPM's PCRs. Each part says what it found; nothing is an error.
struct BootCheck {
    std::optional<Error> tpm_error;          // the vTPM could not be reached (or timed out)
    std::optional<Error> log_error;          // the log is missing (Unavailable), unreadable or malformed
    std::optional<EventLogCheck> check;      // both were there and the check ran
    std::optional<Error> check_error;        // both were there and the check failed to run
};
BootCheck boot_check(const std::string& log_path, const TpmTarget& target);

// One line for a failed comparison, naming each PCR that differs and the last
// event logged into it: "the event log does not explain the TPM's sha256 PCR 5
// (last logged event #12 ...)". `source` names the reference ("TPM", ...).
std::string comparison_summary(const EventLog& log, const Comparison& comparison, std::string_view source);

// The same against reference values (e.g. a file of expected PCRs).
Result<EventLogCheck> check_event_log(EventLog log, const PcrValues& reference, const CompareOptions& options);

}  // namespace cvmunlock::engine
