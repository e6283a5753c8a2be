#pragma once

#include <string>

#include "tpm_options.hpp"

namespace cvmunlock::agent {

struct AgentOptions {
    cli::TpmOptions tpm;
    std::string eventlog = "/sys/kernel/security/tpm0/binary_bios_measurements";
    bool json = false;
};

int run_check(const AgentOptions& o);

}  // namespace cvmunlock::agent
