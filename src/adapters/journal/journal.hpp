// Structured journal messages (sd_journal_send), one-line kernel-log verdicts
// (/dev/kmsg, so they reach the console early in boot), and sd_notify.
#pragma once

#include <map>
#include <string>

namespace cvmunlock::journal {

enum class Priority { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

// MESSAGE plus CVMUNLOCK_<KEY>=value fields (keys upper-cased: VOLUME, PHASE, PCR, REASON, DURATION_MS).
void log(Priority priority, const std::string& message, const std::map<std::string, std::string>& fields = {});

// "cvmunlock: <message>" into the kernel log at the given priority (best effort).
void kmsg(Priority priority, const std::string& message);

// sd_notify(0, state); a no-op outside a notify service.
void notify(const std::string& state);

}  // namespace cvmunlock::journal
