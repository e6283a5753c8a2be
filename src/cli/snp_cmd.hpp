// `cvmunlock snp check|verify|report`.
#pragma once

#include <CLI/CLI.hpp>

namespace cvmunlock::cli {

void add_snp_commands(CLI::App& app, int& exit_code);

}  // namespace cvmunlock::cli
