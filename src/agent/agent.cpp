#include "agent.hpp"

#include <CLI/CLI.hpp>

#include "agent_internal.hpp"
#include "exit_codes.hpp"

namespace cvmunlock::agent {

void add_agent_commands(CLI::App& app, int& exit_code) {
    static AgentOptions o;
    CLI::App* agent = app.add_subcommand("agent", "Boot-time services (run by systemd units)");
    agent->require_subcommand(1);
    CLI::App* check = agent->add_subcommand("check", "Check the vTPM and the event log once; write /run/cvmunlock/verdict.json");
    cli::add_tpm_options(check, o.tpm);
    cli::add_eventlog_option(check, o.eventlog, "Event log (binary_bios_measurements format)");
    check->add_flag("--json", o.json, "Also print the verdict on stdout (docs/json.md)");
    check->footer(cli::kExitCodeHelp);
    check->final_callback([&exit_code]() { exit_code = run_check(o); });
}

}  // namespace cvmunlock::agent
