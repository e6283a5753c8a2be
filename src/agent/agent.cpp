#include "agent.hpp"

#include <CLI/CLI.hpp>

#include "agent_internal.hpp"

namespace cvmunlock::agent {

void add_agent_commands(CLI::App& app, int& exit_code) {
    static AgentOptions o;
    CLI::App* agent = app.add_subcommand("agent", "Boot-time services (run by systemd units)");
    agent->require_subcommand(1);
    CLI::App* check = agent->add_subcommand("check", "Check the vTPM and the event log once; write /run/cvmunlock/verdict.json");
    CLI::App* serve = agent->add_subcommand("serve-key", "Serve one key-socket connection (stdin/stdout) to systemd-cryptsetup");
    for (CLI::App* sub : {check, serve}) {
        sub->add_option("--tpm", o.tpm, "TCTI (default $CVMUNLOCK_TCTI or device:/dev/tpmrm0)");
        sub->add_option("--eventlog", o.eventlog, "Event log")->capture_default_str();
    }
    check->add_flag("--json", o.json, "Also print the verdict");
    serve->add_option("--crypttab", o.crypttab, "crypttab naming the volumes")->capture_default_str();
    check->final_callback([&exit_code]() { exit_code = run_check(o); });
    serve->final_callback([&exit_code]() { exit_code = run_serve_key(o); });
}

}  // namespace cvmunlock::agent
