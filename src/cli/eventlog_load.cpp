#include "eventlog_load.hpp"

#include <cstdio>

#include "../adapters/file/read_file.hpp"
#include "exit_codes.hpp"

namespace cvmunlock::cli {

Result<EventLog> load_event_log(const std::string& path) {
    auto bytes = file::read_all(path);
    if (!bytes) {
        Error e = bytes.error();
        if (e.code == ErrorCode::Unavailable) e.message = "no event log: " + e.message;
        return std::unexpected(e);
    }
    auto log = parse_event_log(*bytes);
    if (!log) return std::unexpected(log.error().context(path));
    return log;
}

int report_error(const std::string& what, const Error& error) {
    std::fprintf(stderr, "cvmunlock: %s: %s\n", what.c_str(), error.message.c_str());
    return exit_code_for(error);
}

}  // namespace cvmunlock::cli
