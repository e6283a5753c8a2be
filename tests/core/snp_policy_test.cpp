// Policy evaluation over synthesized reports: defaults, each check alone, all
// violations at once, and the strict JSON form stored in the token.
#include <gtest/gtest.h>

#include <algorithm>

#include "cvmunlock/snp_policy.hpp"

namespace cvmunlock::snp {
namespace {

Report plain_report() {
    Report r;
    r.version = 3;
    r.policy = 0x30000;  // SMT allowed, reserved bit 17
    r.reported_tcb = 0x4405000000000002ULL;
    r.measurement.fill(0xAB);
    return r;
}

std::vector<std::string> checks(const std::vector<Violation>& v) {
    std::vector<std::string> out;
    for (const auto& x : v) out.push_back(x.check);
    return out;
}

TEST(SnpPolicy, DefaultAcceptsAPlainGuest) {
    EXPECT_TRUE(evaluate_policy(plain_report(), Product::Milan, Policy{}).empty());
}

TEST(SnpPolicy, DefaultRefusesDebugAndMigrationAgent) {
    Report r = plain_report();
    r.policy |= policy_bit::kDebug | policy_bit::kMigrateMa;
    const auto v = evaluate_policy(r, Product::Milan, Policy{});
    EXPECT_EQ(checks(v), (std::vector<std::string>{"debug", "migration-agent"}));
    Policy lax;
    lax.allow_debug = true;
    lax.allow_migration_agent = true;
    EXPECT_TRUE(evaluate_policy(r, Product::Milan, lax).empty());
}

TEST(SnpPolicy, MinimumTcbComparesEachComponentInTheProductLayout) {
    Report r = plain_report();  // Milan: bl 2, tee 0, snp 5, ucode 0x44
    Policy p;
    p.min_tcb = Tcb{.bootloader = 2, .tee = 0, .snp = 5, .microcode = 0x44};
    EXPECT_TRUE(evaluate_policy(r, Product::Milan, p).empty());
    p.min_tcb->snp = 6;
    auto v = evaluate_policy(r, Product::Milan, p);
    ASSERT_EQ(checks(v), std::vector<std::string>{"min-tcb"});
    EXPECT_NE(v[0].detail.find("snp=5"), std::string::npos) << v[0].detail;
    // The same raw value read with the Turin layout has snp in byte 3 (zero here).
    p.min_tcb = Tcb{.snp = 1};
    EXPECT_TRUE(evaluate_policy(r, Product::Milan, p).empty());
    EXPECT_EQ(checks(evaluate_policy(r, Product::Turin, p)), std::vector<std::string>{"min-tcb"});
}

TEST(SnpPolicy, EveryViolationIsReported) {
    Report r = plain_report();
    r.policy |= policy_bit::kDebug;
    r.vmpl = 2;
    r.host_data.fill(1);
    Policy p;
    p.measurements.push_back({});
    p.max_vmpl = 0;
    p.host_data = std::array<std::uint8_t, 32>{};
    p.id_key_digest = std::array<std::uint8_t, 48>{};
    p.id_key_digest->fill(7);
    p.author_key_digest = std::array<std::uint8_t, 48>{};  // matches the report's zeros
    p.smt = true;
    p.single_socket = true;
    EXPECT_EQ(checks(evaluate_policy(r, Product::Genoa, p)),
              (std::vector<std::string>{"debug", "measurement", "vmpl", "host-data", "id-key-digest", "smt",
                                        "single-socket"}));
}

TEST(SnpPolicy, AllowedMeasurementsAcceptAnyListedOne) {
    Report r = plain_report();
    Policy p;
    p.measurements.push_back({});
    p.measurements.push_back(r.measurement);
    EXPECT_TRUE(evaluate_policy(r, Product::Milan, p).empty());
}

TEST(SnpPolicyJson, RoundTripsEveryField) {
    Policy p;
    p.allow_debug = true;
    p.min_tcb = Tcb{.fmc = 1, .bootloader = 2, .tee = 3, .snp = 4, .microcode = 5};
    p.measurements.push_back({});
    p.measurements.back().fill(0x5A);
    p.max_vmpl = 1;
    p.host_data = std::array<std::uint8_t, 32>{};
    p.id_key_digest = std::array<std::uint8_t, 48>{};
    p.author_key_digest = std::array<std::uint8_t, 48>{};
    p.author_key_digest->fill(9);
    p.smt = false;
    p.single_socket = true;
    auto back = policy_from_json(nlohmann::json::parse(policy_to_json(p).dump()));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, p);
    EXPECT_EQ(policy_to_json(Policy{}), nlohmann::json::object()) << "unset fields must not appear";
}

TEST(SnpPolicyJson, RejectsMalformedFieldsNamingThem) {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"allow_debug": 1})", "allow_debug"},
        {R"({"max_vmpl": 4})", "max_vmpl"},
        {R"({"min_tcb": {"snp": 256}})", "min_tcb.snp"},
        {R"({"min_tcb": {"bogus": 1}})", "min_tcb.bogus"},
        {R"({"measurements": ["00"]})", "measurements"},
        {R"({"measurements": []})", "measurements"},
        {R"({"host_data": "zz"})", "host_data"},
        {R"({"colour": "red"})", "colour"},
        {R"([])", "policy"},
    };
    for (const auto& [text, field] : cases) {
        auto p = policy_from_json(nlohmann::json::parse(text));
        ASSERT_FALSE(p) << text;
        EXPECT_EQ(p.error().code, ErrorCode::InvalidInput);
        EXPECT_NE(p.error().message.find(field), std::string::npos) << p.error().message;
    }
}

}  // namespace
}  // namespace cvmunlock::snp
