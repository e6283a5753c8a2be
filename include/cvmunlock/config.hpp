// cvmunlock's settings as text: /etc/cvmunlock/cvmunlock.conf (systemd-style
// INI) and the kernel command line, parsed without I/O. Each source only says
// what it sets; the engine layers them: built-in defaults, then the file, then
// the kernel command line, then command-line options.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "cvmunlock/error.hpp"

namespace cvmunlock {

struct Settings {
    std::optional<std::chrono::milliseconds> tpm_command_timeout;  // per TPM command
    std::optional<std::chrono::milliseconds> tpm_timeout;          // all TPM commands of one run together

    // Fields set in `over` replace ours.
    void merge(const Settings& over);
};

// A systemd time span: "10", "10s", "2.5s", "500ms", "1min", "1min 30s".
// Bounded to 1 ms .. 1 h; 0 and "infinity" are refused (a limit must bound).
Result<std::chrono::milliseconds> parse_timespan(std::string_view text);

// /etc/cvmunlock/cvmunlock.conf:
//   [TPM]
//   CommandTimeoutSec=10
//   TimeoutSec=30
// Comments (# ;), blank lines; unknown sections or keys are InvalidInput
// naming `origin` and the line, so a typo does not go unnoticed.
Result<Settings> parse_settings_file(std::string_view text, const std::string& origin);

// The kernel command line: cvmunlock.tpm_command_timeout=10s and
// cvmunlock.tpm_timeout=30s (rd.cvmunlock.* too). Other parameters are not
// ours and are ignored; a bad value of ours is InvalidInput naming it.
Result<Settings> parse_kernel_cmdline(std::string_view cmdline);

}  // namespace cvmunlock
