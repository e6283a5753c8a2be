// `cvmunlock snp check [--json] [--fetch]`: what SEV-SNP environment this is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "report_json.hpp"
#include "snp/detect.hpp"

namespace CLI {
class App;
}

namespace cvmunlock::cli {

// The outcome of --fetch: one report with a random nonce from the first usable source.
struct SnpCheckFetch {
    std::string source;  // "sev-guest", "tsm"; empty when no source was usable
    bool ok = false;
    std::optional<std::uint32_t> vmpl;
    std::string error;  // when not ok
    int exit_code = 0;  // what a failed fetch makes the command exit with
};

// The `snp check --json` document (docs/json.md).
engine::OutJson snp_check_json(const snp::Detection& d, const std::optional<SnpCheckFetch>& fetch);
std::string snp_check_text(const snp::Detection& d, const std::optional<SnpCheckFetch>& fetch);
// 0 whenever the check ran, whatever the platform; with --fetch, the fetch's exit code.
int snp_check_exit_code(const std::optional<SnpCheckFetch>& fetch);

// Registers `check` under the `snp` command; stores its exit code in `exit_code` when run.
void add_snp_check_command(CLI::App& snp, int& exit_code);

}  // namespace cvmunlock::cli
