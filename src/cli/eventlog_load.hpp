// Loading and parsing an event log file for the CLI, with the file named in errors.
#pragma once

#include <string>

#include "cvmunlock/eventlog.hpp"

namespace cvmunlock::cli {

// Missing log: ErrorCode::Unavailable ("no event log"); malformed: InvalidInput
// with "<path>: at byte offset N ...".
Result<EventLog> load_event_log(const std::string& path);

}  // namespace cvmunlock::cli
