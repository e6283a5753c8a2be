// `cvmunlock predict`: the sealed PCRs of the next boot (docs/cli.md).
#pragma once

namespace CLI {
class App;
}

namespace cvmunlock::cli {

// Registers the command; it stores its exit code in `exit_code` when run.
void add_predict_command(CLI::App& app, int& exit_code);

}  // namespace cvmunlock::cli
