#pragma once

#include <string>

namespace cvmunlock::agent {

struct AgentOptions {
    std::string tpm;
    std::string eventlog = "/sys/kernel/security/tpm0/binary_bios_measurements";
    bool json = false;
};

int run_check(const AgentOptions& o);

}  // namespace cvmunlock::agent
