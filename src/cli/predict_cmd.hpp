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
struct LoadedVariable {
    std::string name, source;
    Bytes data;
    bool from_firmware = false;  // read from efivarfs (no =FILE)
};
struct LoadedEspImage {
    std::string logged_path, file;
    Bytes next;
};
struct LoadedUpdates {
    std::vector<LoadedUpdate> files;
    std::vector<LoadedEspImage> esp_files;
    std::vector<LoadedVariable> variables;
    BootUpdates updates;  // views into `files`, `esp_files` and `variables`
    LoadedUpdates() = default;
    LoadedUpdates(const LoadedUpdates&) = delete;
    LoadedUpdates& operator=(const LoadedUpdates&) = delete;
};

// What changes before the next boot, as given on the command line.
struct UpdateSpecs {
    std::vector<std::string> images;     // --update CURRENT:NEXT
    std::string kernel;                  // --kernel NEXT
    std::vector<std::string> variables;  // --efi-variable NAME[=FILE]
    std::string esp;                     // --esp DIR
};

// --update, --kernel, --esp and --efi-variable, shared by predict and update-policy.
void add_update_options(CLI::App* cmd, UpdateSpecs& specs);
// Reads the files (for --esp, those under DIR that this boot's log, at
// `eventlog`, names; for --efi-variable NAME, the firmware's variable from
// efivarfs); on failure reports it and returns the exit code.
int load_updates(const std::string& command, const UpdateSpecs& specs, const std::string& eventlog,
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
