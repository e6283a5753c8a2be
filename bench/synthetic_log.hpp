// Synthetic measured-boot event log for the benchmarks: a crypto-agile log
// (Spec ID with SHA-1, SHA-256 and SHA-384, no StartupLocality event) whose
// records follow an OVMF -> shim -> grub -> Linux EFI stub boot, grub's
// command stream making up the bulk. Output is deterministic (fixed seed).
#pragma once

#include <cstddef>

#include "cvmunlock/error.hpp"
#include "cvmunlock/eventlog.hpp"

namespace cvmunlock::bench {

inline constexpr std::size_t kDefaultSyntheticRecords = 100000;

// A log of exactly `records` records, the Spec ID header included (so
// replay_event_log reports `records` events). Wherever the PFP defines the
// digest as the hash of the event data (or grub and shim do so for EV_IPL),
// that is the digest; elsewhere it is the hash of deterministic stand-in
// content. Below about 40 records the boot is cut short.
Result<EventLog> build_synthetic_log(std::size_t records);

}  // namespace cvmunlock::bench
