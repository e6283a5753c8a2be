// What an SEV-SNP report must show to be acceptable. Every field says what
// "unset" means; evaluation reports every violation, not only the first.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cvmunlock/error.hpp"
#include "cvmunlock/snp_report.hpp"

namespace cvmunlock::snp {

inline constexpr std::size_t kMaxMeasurements = 64;  // allowed launch measurements in one policy

struct Policy {
    bool allow_debug = false;            // default: a debuggable guest is refused
    bool allow_migration_agent = false;  // default: a guest with a migration agent is refused
    std::optional<Tcb> min_tcb;          // unset: REPORTED_TCB not checked; else every component >=
    std::vector<std::array<std::uint8_t, 48>> measurements;  // empty: any launch measurement
    std::optional<std::uint32_t> max_vmpl;                   // unset: any VMPL; else VMPL <= this
    std::optional<std::array<std::uint8_t, 32>> host_data;   // unset: not checked
    std::optional<std::array<std::uint8_t, 48>> id_key_digest;      // unset: not checked
    std::optional<std::array<std::uint8_t, 48>> author_key_digest;  // unset: not checked
    std::optional<bool> smt;            // unset: not checked; else PLATFORM_INFO.SMT_EN must equal
    std::optional<bool> single_socket;  // unset: not checked; else POLICY.SINGLE_SOCKET must equal
    friend bool operator==(const Policy&, const Policy&) = default;
};

struct Violation {
    std::string check;   // "debug", "migration-agent", "min-tcb", "measurement", "vmpl", ...
    std::string detail;  // what the report has against what the policy wants
};

// `product` picks the TCB layout (from the verified chain).
std::vector<Violation> evaluate_policy(const Report& report, Product product, const Policy& policy);

// Compact JSON for the token and `--json` output: only the set fields appear.
nlohmann::json policy_to_json(const Policy& policy);
Result<Policy> policy_from_json(const nlohmann::json& doc);  // strict: unknown keys refused

}  // namespace cvmunlock::snp
