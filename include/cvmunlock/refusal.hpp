// Explaining a refused unseal: which sealed PCR changed since enrollment and,
// when the event log is at hand, which event differs.
#pragma once

#include <string>
#include <vector>

#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/replay.hpp"
#include "cvmunlock/token.hpp"

namespace cvmunlock {

struct PcrChange {
    std::uint32_t pcr = 0;
    bool lock_pcr = false;
    Bytes enrolled;
    Bytes current;
    std::optional<std::size_t> event_index;  // first log event of that PCR that differs from enrollment
    std::string event_text;                  // "#12 EV_EFI_VARIABLE_DRIVER_CONFIG: db (3143 bytes)"
};

// Compares the token's enrolled values with the current ones; `log` may be null.
std::vector<PcrChange> explain_refusal(const CvmToken& token, const PcrValues& current, const EventLog* log);

// `cvmunlock explain`: event by event, how the events of one sealed PCR in
// this boot's log differ from those recorded at enrollment (the token keeps
// the first 8 bytes of each event digest). A longest common subsequence of
// the two lists: events of this boot that enrollment did not have (`added`,
// with the log index), and digests of enrollment this boot lacks (removed;
// the token keeps no more than the prefix). Empty when they are the same.
struct EventDifference {
    bool added = false;
    std::optional<std::size_t> event_index;  // added: the event in this boot's log
    Bytes digest_prefix;
    std::string text;                        // added: describe_event(); removed: the prefix
};
std::vector<EventDifference> diff_events(const CvmToken& token, const EventLog& log, std::uint32_t pcr);

// One line per change, for the journal and stderr.
std::string describe_change(const PcrChange& change, HashAlg bank);

// The event digests (first 8 bytes, bank `bank`) of every event extended into `pcr`.
std::vector<Bytes> event_digest_prefixes(const EventLog& log, HashAlg bank, std::uint32_t pcr);

}  // namespace cvmunlock
