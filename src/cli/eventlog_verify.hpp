#pragma once

#include "eventlog_cmd.hpp"

namespace cvmunlock::cli {

// `eventlog verify`: exit 0 when at least one PCR was compared and all match, 1 otherwise.
int run_verify(const EventLogOptions& opts);

}  // namespace cvmunlock::cli
