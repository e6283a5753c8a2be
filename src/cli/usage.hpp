// Usage errors of the command line itself (unknown commands and options,
// missing arguments), said the same way as the commands' own usage errors:
// "cvmunlock: COMMAND: ...", exit 2, and with --json the error document.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
class ParseError;
}  // namespace CLI

namespace cvmunlock::cli {

// Before parsing: names an unknown (sub)command with a suggestion. Returns the
// exit code (2) after reporting, or -1 when argv names known commands.
int check_commands(CLI::App& app, int argc, const char* const* argv);

// After a failed parse: reports `error` for the deepest command reached and
// returns the exit code (2).
int report_parse_error(CLI::App& app, const CLI::ParseError& error, int argc, const char* const* argv);

}  // namespace cvmunlock::cli
