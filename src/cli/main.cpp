// cvmunlock command-line front end.
#include <sys/prctl.h>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "agent.hpp"
#include "eventlog_cmd.hpp"
#include "exit_codes.hpp"
#include "predict_cmd.hpp"
#include "luks/volume.hpp"
#include "snp_cmd.hpp"
#include "usage.hpp"
#include "volume_cmds.hpp"

#ifndef CVMUNLOCK_VERSION
#define CVMUNLOCK_VERSION "0"
#endif

int main(int argc, char** argv) {
    using namespace cvmunlock;
    using namespace cvmunlock::cli;
    // Key material passes through this process: no core dumps, no ptrace by others.
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    // tpm2-tss logs TPM errors we handle (e.g. no persistent SRK) to stderr; keep
    // them quiet unless the user asked for its logging.
    setenv("TSS2_LOG", "all+NONE", 0);
    luks::route_library_messages("cvmunlock: libcryptsetup: ");
    CLI::App app("cvmunlock: unlock LUKS2 volumes of confidential VMs with the vTPM", "cvmunlock");
    app.set_version_flag("--version", CVMUNLOCK_VERSION);
    app.require_subcommand(1);
    app.footer(kExitCodeHelp);

    int exit_code = kExitOk;
    EventLogOptions eventlog;
    add_eventlog_commands(app, eventlog, exit_code);
    add_volume_commands(app, exit_code);
    add_snp_commands(app, exit_code);
    add_predict_command(app, exit_code);
    add_update_policy_command(app, exit_code);
    add_explain_command(app, exit_code);
    add_sign_policy_command(app, exit_code);
    cvmunlock::agent::add_agent_commands(app, exit_code);

    if (int rc = check_commands(app, argc, argv); rc >= 0) return rc;
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        return report_parse_error(app, e, argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cvmunlock: internal error: %s\n", e.what());
        return kExitUnavailable;
    }
    return exit_code;
}
