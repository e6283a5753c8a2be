#include "eventlog_load.hpp"

#include <cstdio>

#include "eventlog_check.hpp"
#include "exit_codes.hpp"

namespace cvmunlock::cli {

Result<EventLog> load_event_log(const std::string& path) { return engine::load_event_log(path); }

int report_error(const std::string& what, const Error& error) {
    std::fprintf(stderr, "cvmunlock: %s: %s\n", what.c_str(), error.message.c_str());
    return exit_code_for(error);
}

}  // namespace cvmunlock::cli
