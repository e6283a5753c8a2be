// The options every command that talks to the vTPM takes: the TCTI and the
// time limits (which layer over /etc/cvmunlock/cvmunlock.conf and the kernel
// command line, engine/settings.hpp).
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

void add_tpm_options(CLI::App* app, TpmOptions& options);

// InvalidInput naming the option, file line or kernel parameter that is wrong.
Result<engine::TpmTarget> tpm_target(const TpmOptions& options);

}  // namespace cvmunlock::cli
