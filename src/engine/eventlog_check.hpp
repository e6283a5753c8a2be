// The one event-log check: the PCRs it compares (pcrs_to_compare, in every
// bank of the reference), the comparison (compare_pcrs) and how events are
// named (describe_event). `cvmunlock eventlog verify` and `agent check` both
// run it; a refusal names the event that changed with the same words.
#pragma once

#include <string>

#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/replay.hpp"
#include "tpm/tpm_context.hpp"

namespace cvmunlock::engine {

// Missing log: ErrorCode::Unavailable ("no event log: ..."); malformed:
// InvalidInput with "<path>: at byte offset N ...".
Result<EventLog> load_event_log(const std::string& path);

struct EventLogCheck {
    EventLog log;
    ReplayResult replayed;
    Comparison comparison;
};

// Replays `log` and compares it with the TPM's PCRs, read in every allocated
// bank (or options.bank).
Result<EventLogCheck> check_event_log(EventLog log, tpm::TpmContext& tpm, const CompareOptions& options);

// The same against reference values (e.g. a file of expected PCRs).
Result<EventLogCheck> check_event_log(EventLog log, const PcrValues& reference, const CompareOptions& options);

}  // namespace cvmunlock::engine
