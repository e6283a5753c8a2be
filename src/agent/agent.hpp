// Boot-time front end: `cvmunlock agent check` (early-boot service).
#pragma once

namespace CLI {
class App;
}

namespace cvmunlock::agent {

inline constexpr const char* kRunDir = "/run/cvmunlock";
inline constexpr const char* kVerdictFile = "/run/cvmunlock/verdict.json";

void add_agent_commands(CLI::App& app, int& exit_code);

}  // namespace cvmunlock::agent
