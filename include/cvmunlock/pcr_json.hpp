// JSON form of PCR values: {"banks": {"sha256": {"0": "<lowercase hex>", ...}, ...}}
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "cvmunlock/replay.hpp"

namespace cvmunlock {

// Strict: known bank names, PCR indexes 0..23 in decimal, hex of the bank's digest size.
Result<PcrValues> pcr_values_from_json(std::string_view text);

nlohmann::json pcr_values_to_json(const PcrValues& values);

// {"banks": ..., "events": N, "startup_locality": n|null}
nlohmann::json replay_to_json(const ReplayResult& result);

}  // namespace cvmunlock
