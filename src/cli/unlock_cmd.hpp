#pragma once

namespace CLI {
class App;
}

namespace cvmunlock::cli {

// `unlock`, `lock` and `status`.
void add_unlock_commands(CLI::App& app, int& exit_code);

}  // namespace cvmunlock::cli
