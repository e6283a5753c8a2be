// How a command reports: human text on stderr (and its result on stdout), or
// with --json one document on stdout (docs/json.md), errors included. Every
// command calls begin_output() first; errors go through report_error() or
// usage_error() so that both forms say the same thing.
#pragma once

#include <string>
#include <string_view>

#include "cvmunlock/error.hpp"
#include "report_json.hpp"

namespace cvmunlock::cli {

using engine::OutJson;

// The command now running ("unlock", "eventlog verify", ...) and whether it
// writes JSON.
void begin_output(std::string_view command, bool json);
[[nodiscard]] bool json_output() noexcept;

// A new document for the running command (engine::json_document).
OutJson new_document();

// "cvmunlock: WHAT: MESSAGE" on stderr; with --json also the error document on
// stdout. Returns the exit code for `error` (docs/cli.md).
int report_error(const std::string& what, const Error& error);

// A usage error of the running command: "cvmunlock: COMMAND: MESSAGE", exit 2
// (with --json also the error document, code "usage").
int usage_error(const std::string& message);

// Prints `doc` on stdout and returns its exit code: 0, or error.exit. An error
// is also said on stderr ("cvmunlock: COMMAND: MESSAGE") unless the command
// has said it there already (`said`).
int finish(const OutJson& doc, bool said = false);

}  // namespace cvmunlock::cli
