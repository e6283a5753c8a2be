// Test vectors shared by the core tests (tests/data, provenance in tests/data/README.md).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/replay.hpp"

namespace cvmunlock::testing {

std::string data_path(const std::string& relative);
Bytes read_data(const std::string& relative);

struct LogVector {
    std::string name;  // key in expected_pcrs.json, e.g. "go-tpm-tools/gdc-host.bin"
    std::string path;  // relative to tests/data
    PcrValues expected;
};

// Every log that has expected PCRs in tests/data/eventlog/expected_pcrs.json.
std::vector<LogVector> log_vectors();
nlohmann::json expected_metadata(const std::string& name);

}  // namespace cvmunlock::testing
