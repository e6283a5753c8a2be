// Writing a small state file so that a crash leaves the old file or the new
// one, never a partial one.
#pragma once

#include <string>
#include <sys/types.h>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"

namespace cvmunlock::file {

// Creates the parent directory (mode 0700) if missing, writes `data` to a
// temporary file beside `path` with `mode`, fsyncs it, renames it over `path`
// and fsyncs the directory.
Result<void> write_atomic(const std::string& path, ByteView data, mode_t mode);

}  // namespace cvmunlock::file
