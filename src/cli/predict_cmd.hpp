// `cvmunlock predict`: the sealed PCRs of the next boot (docs/cli.md).
#pragma once

#include <string>
#include <vector>

#include "cvmunlock/predict.hpp"

namespace CLI {
class App;
}

namespace cvmunlock::cli {

struct LoadedUpdate {
    std::string current_name, next_name;
    Bytes current, next;
};
struct LoadedUpdates {
    std::vector<LoadedUpdate> files;
    std::vector<ImageUpdate> updates;  // views into `files`
    LoadedUpdates() = default;
    LoadedUpdates(const LoadedUpdates&) = delete;
    LoadedUpdates& operator=(const LoadedUpdates&) = delete;
};

// --update CURRENT:NEXT (repeatable) and --kernel NEXT, shared by predict and update-policy.
void add_update_options(CLI::App* cmd, std::vector<std::string>& updates, std::string& kernel);
// Reads the files; on failure reports it and returns the exit code.
int load_updates(const std::string& command, const std::vector<std::string>& specs, const std::string& kernel,
                 LoadedUpdates& out);

// `cvmunlock explain`: what differs, event by event, from the enrolled boot (explain_cmd.cpp).
void add_explain_command(CLI::App& app, int& exit_code);

// `cvmunlock sign-policy`: signs one boot's PCR values for --policy-key tokens (policy_cmd.cpp).
void add_sign_policy_command(CLI::App& app, int& exit_code);

// `cvmunlock update-policy`: rewrites a --nv-policy token's policy index (docs/updates.md).
void add_update_policy_command(CLI::App& app, int& exit_code);

// Registers the command; it stores its exit code in `exit_code` when run.
void add_predict_command(CLI::App& app, int& exit_code);

}  // namespace cvmunlock::cli
