// `cvmunlock eventlog show|replay|verify`.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "cvmunlock/hash.hpp"
#include "tpm_options.hpp"

namespace CLI {
class App;
}

namespace cvmunlock::cli {

inline constexpr const char* kDefaultEventLog = "/sys/kernel/security/tpm0/binary_bios_measurements";

struct EventLogOptions {
    std::string log = kDefaultEventLog;
    bool json = false;
    TpmOptions tpm;             // --tpm TCTI (empty: $CVMUNLOCK_TCTI or the default device) and limits
    bool use_tpm = false;       // --tpm given (verify)
    std::string expected;       // --expected FILE (verify)
    std::string pcrs;           // --pcrs LIST (verify)
    std::string bank;           // --pcr-bank NAME (verify)
};

// Registers the subcommands; each stores its exit code in `exit_code` when run.
void add_eventlog_commands(CLI::App& app, EventLogOptions& opts, int& exit_code);

// "0,2,4,7" or "0+7": PCR indexes 0..23; nullopt on anything else.
std::optional<std::set<std::uint32_t>> parse_pcr_list(const std::string& list);

}  // namespace cvmunlock::cli
