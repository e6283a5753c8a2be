// The options every command that talks to the vTPM takes: the TCTI and the
// time limits (which layer over /etc/cvmunlock/cvmunlock.conf and the kernel
// command line, engine/settings.hpp); and the options that name the same thing
// in several commands.
#pragma once

#include <string>

#include "cvmunlock/error.hpp"
#include "settings.hpp"

namespace CLI {
class App;
}

namespace cvmunlock::cli {

struct TpmOptions {
    std::string tcti;
    std::string timeout;          // --tpm-timeout
    std::string command_timeout;  // --tpm-command-timeout
};

// --tpm TCTI and the two limits.
void add_tpm_options(CLI::App* app, TpmOptions& options);
// Only --tpm-timeout and --tpm-command-timeout (for a command whose --tpm differs).
void add_tpm_limit_options(CLI::App* app, TpmOptions& options);

// One name per idea across commands: --eventlog FILE, --pcr-bank NAME.
void add_eventlog_option(CLI::App* app, std::string& path, const std::string& help);
void add_pcr_bank_option(CLI::App* app, std::string& bank, const std::string& help);

// InvalidInput naming the option, file line or kernel parameter that is wrong.
Result<engine::TpmTarget> tpm_target(const TpmOptions& options);

}  // namespace cvmunlock::cli
