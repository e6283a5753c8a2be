// Replaying an event log into PCR values, checking event data against the
// logged digests, and comparing replayed PCRs with a reference (TPM or file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/hash.hpp"

namespace cvmunlock {

// bank -> PCR index -> value
using PcrValues = std::map<HashAlg, std::map<std::uint32_t, Bytes>>;

struct ReplayResult {
    PcrValues banks;                                           // PCRs extended (and PCR 0 if a locality set it)
    std::map<HashAlg, std::map<std::uint32_t, std::size_t>> last_event;  // record index last extended into a PCR
    std::optional<std::uint8_t> startup_locality;
    std::size_t events = 0;  // every record, the Spec ID header included
};

// Replays each bank with the digests as logged (what the TPM saw). EV_NO_ACTION
// records are never extended. PCR 0 starts at 00..0N after a StartupLocality
// event (PFP 10.4.5.3); PCRs 17-22 start at all ones (PC Client PTP).
Result<ReplayResult> replay_event_log(const EventLog& log);

// Initial value of a PCR before any extend.
Bytes pcr_initial_value(HashAlg alg, std::uint32_t pcr, std::optional<std::uint8_t> locality);

enum class DigestCheck {
    NotApplicable,  // the spec does not define the digest as a hash of the event data
    Match,          // every known-bank digest equals the hash of the event data
    Mismatch,       // at least one does not: the decoded content is untrusted
};

// For the event types whose digest the PFP defines as the hash of the event
// data (or of a defined part of it), checks each logged digest.
DigestCheck check_event_digest(const Event& event);

struct PcrMismatch {
    HashAlg bank = HashAlg::Sha256;
    std::uint32_t pcr = 0;
    Bytes reference;                       // empty when the reference lacks this PCR
    Bytes replayed;
    std::optional<std::size_t> last_event;  // record index, nullopt if no event extended it
};

struct CompareOptions {
    std::optional<HashAlg> bank;              // unset: every bank of the reference
    std::optional<std::set<std::uint32_t>> pcrs;  // unset: PCRs 0-7 and every PCR the log touches
};

struct Comparison {
    std::size_t compared = 0;
    std::vector<PcrMismatch> mismatches;
    std::vector<HashAlg> banks;             // banks that were compared
    // Banks of the reference of which the log records no digest: their PCRs
    // were compared with their reset values (what such a log says of them).
    std::vector<HashAlg> banks_not_in_log;
    [[nodiscard]] bool ok() const noexcept { return compared > 0 && mismatches.empty(); }
};

// The PCRs one check compares, in every bank: options.pcrs, else PCRs 0-7
// (PFP 3.3.4: firmware measures at least a separator into each, so a log cut
// short cannot hide them) and every PCR the log extends in any bank.
std::set<std::uint32_t> pcrs_to_compare(const ReplayResult& replayed, const CompareOptions& options);

// Compares replayed PCRs with reference values (a TPM's, or a file's), in
// every bank of the reference, or only options.bank, which the log must
// record (else NotFound naming the banks it has). A reference bank the log
// lacks is compared with reset values and listed in banks_not_in_log. A PCR
// selected explicitly but absent from the reference counts as a mismatch; one
// selected by default is skipped when the reference lacks it.
Result<Comparison> compare_pcrs(const ReplayResult& replayed, const PcrValues& reference,
                                const CompareOptions& options);

}  // namespace cvmunlock
