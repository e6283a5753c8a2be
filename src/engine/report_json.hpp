// The JSON contract (docs/json.md): every `--json` document, and the boot
// agent's verdict file, is built from these pieces, so that the same thing has
// the same name and shape wherever it appears. Schemas: docs/schema/.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "cvmunlock/error.hpp"
#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/refusal.hpp"
#include "cvmunlock/replay.hpp"
#include "reason.hpp"
#include "snp_gate.hpp"

namespace cvmunlock::engine {

using OutJson = nlohmann::ordered_json;

// The integer "version" of every document; raised on an incompatible change.
inline constexpr int kJsonVersion = 1;

// {"version": 1, "command": COMMAND, "ok": true, "error": null}; the command
// adds its fields, and set_error() turns it into a failure.
OutJson json_document(std::string_view command);

// "error": {"exit": N, "code": CODE, "message": ...} and "ok": false. `code` is
// one word of docs/json.md's vocabulary (a refusal reason, an error kind,
// "usage", "log-mismatch").
void set_error(OutJson& doc, int exit_code, std::string_view code, const std::string& message);
void set_error(OutJson& doc, const Refusal& refusal);
// For an Error outside an unlock decision; exit codes as documented in docs/cli.md.
void set_error(OutJson& doc, const Error& error, int exit_code);

// One sealed PCR that differs from its enrolled value.
OutJson pcr_change_json(const PcrChange& change, HashAlg bank);

// An event of a log: {"index", "offset", "pcr", "type_name", "description"}, or
// null for none.
OutJson event_ref_json(const EventLog& log, std::optional<std::size_t> index);

// A comparison of a replayed log with a reference (the vTPM or a file).
OutJson comparison_json(const EventLog& log, const Comparison& comparison);

// The SEV-SNP gate's verdict (unlock, enroll).
OutJson snp_verdict_json(const SnpVerdict& verdict);

// Prints `doc` and a newline on stdout (invalid UTF-8 from logs replaced).
void print_json(const OutJson& doc);

}  // namespace cvmunlock::engine
