#include "agent.hpp"

#include <CLI/CLI.hpp>

#include "agent_internal.hpp"

namespace cvmunlock::agent {

void add_agent_commands(CLI::App& app, int& exit_code) {
    static AgentOptions o;
    CLI::App* agent = app.add_subcommand("agent", "Boot-time services (run by systemd units)");
    agent->require_subcommand(1);
    CLI::App* check = agent->add_subcommand("check", "Check the vTPM and the event log once; write /run/cvmunlock/verdict.json");
    check->add_option("--tpm", o.tpm, "TCTI (default $CVMUNLOCK_TCTI or device:/dev/tpmrm0)");
    check->add_option("--eventlog", o.eventlog, "Event log")->capture_default_str();
    check->add_flag("--json", o.json, "Also print the verdict");
    check->final_callback([&exit_code]() { exit_code = run_check(o); });
}

}  // namespace cvmunlock::agent
