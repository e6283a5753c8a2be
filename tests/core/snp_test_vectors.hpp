// Loading the SEV-SNP certificate vectors of tests/data/snp for the core tests,
// and the verification times the expected results are stated for.
#pragma once

#include <gtest/gtest.h>

#include <ctime>
#include <string>
#include <vector>

#include "cvmunlock/snp_verify.hpp"
#include "test_data.hpp"

namespace cvmunlock::testing {

inline constexpr std::time_t k2022_01_01 = 1640995200;  // before every real VCEK
inline constexpr std::time_t k2025_06_01 = 1748736000;  // every real vector valid
inline constexpr std::time_t k2026_01_01 = 1767225600;  // the trustee VLEK has expired (2025-12-10)

// Every certificate of the files (relative to tests/data), in order.
inline std::vector<snp::Certificate> load_certs(const std::vector<std::string>& files) {
    std::vector<snp::Certificate> out;
    for (const auto& f : files) {
        auto certs = snp::Certificate::load_all(read_data(f), f);
        if (!certs) ADD_FAILURE() << f << ": " << certs.error().message;
        if (certs) out.insert(out.end(), certs->begin(), certs->end());
    }
    return out;
}

inline snp::TrustStore load_trust(const std::vector<std::string>& files) {
    snp::TrustStore trust;
    for (const auto& f : files) {
        auto added = trust.add(read_data(f), f);
        if (!added) ADD_FAILURE() << f << ": " << added.error().message;
    }
    return trust;
}

}  // namespace cvmunlock::testing
