#include "eventlog_load.hpp"

#include "eventlog_check.hpp"

namespace cvmunlock::cli {

Result<EventLog> load_event_log(const std::string& path) { return engine::load_event_log(path); }

}  // namespace cvmunlock::cli
