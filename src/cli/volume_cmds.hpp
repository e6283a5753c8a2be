// `cvmunlock enroll|unlock|lock|status|wipe`.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "cvmunlock/hash.hpp"

namespace CLI {
class App;
}

namespace cvmunlock::cli {

void add_volume_commands(CLI::App& app, int& exit_code);

// "7:sha256=HEX" (--pcr-value): PCR 7 of `bank` into `out`; false when malformed or of another bank.
bool parse_pcr_value(const std::string& spec, HashAlg bank, std::map<std::uint32_t, Bytes>& out);

}  // namespace cvmunlock::cli
