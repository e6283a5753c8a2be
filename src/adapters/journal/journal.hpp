// Structured journal messages, one-line kernel-log verdicts (/dev/kmsg, so
// they reach the console early in boot), and service notifications. The
// journal and notify messages speak systemd's native datagram protocols
// themselves, so the binary does not load libsystemd (and its compression and
// crypto libraries) at every start.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace cvmunlock::journal {

enum class Priority { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

// MESSAGE plus CVMUNLOCK_<KEY>=value fields (keys upper-cased: VOLUME, PHASE, PCR, REASON, DURATION_MS).
void log(Priority priority, const std::string& message, const std::map<std::string, std::string>& fields = {});

// "cvmunlock: <message>" into the kernel log at the given priority (best effort).
void kmsg(Priority priority, const std::string& message);

// sd_notify(0, state): a datagram to $NOTIFY_SOCKET; a no-op outside a notify service.
void notify(const std::string& state);

// The native-protocol bytes of one log() entry (systemd.journal-fields(7)).
std::string entry(Priority priority, const std::string& message, const std::map<std::string, std::string>& fields = {});
// One field: KEY=value, or the length-prefixed form when the value has a newline.
void append_field(std::string& out, std::string_view key, std::string_view value);
// Sends entry bytes to the journal socket at `socket_path` (log() uses
// /run/systemd/journal/socket), as a sealed memfd when too large for a datagram.
bool send_entry(std::string_view socket_path, std::string_view entry_bytes);

}  // namespace cvmunlock::journal
