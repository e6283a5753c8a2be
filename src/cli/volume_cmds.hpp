// `cvmunlock enroll|unlock|lock|status|wipe`.
#pragma once

namespace CLI {
class App;
}

namespace cvmunlock::cli {

void add_volume_commands(CLI::App& app, int& exit_code);

}  // namespace cvmunlock::cli
