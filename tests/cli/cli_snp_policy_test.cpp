// `cvmunlock snp verify` policy flags: each violation named, all listed, bad values are usage errors.
#include "cli_snp_support.hpp"

namespace cvmunlock::cli_snp_test {
namespace {

struct VlekFacts {
    json report;
    std::vector<std::string> base;
};

VlekFacts vlek_facts() {
    const std::string tr = kSnp + "/trustee/";
    return {report_json(tr + "test-vlek-report.bin")["report"],
            {"--report", tr + "test-vlek-report.bin", "--certs", tr + "test-vlek.der", "--at", "2025-06-01T00:00:00Z"}};
}

std::string other_hex(const std::string& hex) {
    std::string o = hex;
    o[0] = o[0] == '0' ? '1' : '0';
    return o;
}

std::string tcb_flag(const json& tcb, int snp_delta) {
    return "bl=" + std::to_string(tcb["bootloader"].get<int>()) + ",tee=" + std::to_string(tcb["tee"].get<int>()) +
           ",snp=" + std::to_string(tcb["snp"].get<int>() + snp_delta) + ",ucode=" + std::to_string(tcb["microcode"].get<int>());
}

TEST(CliSnpPolicy, FlagsMatchingTheReportAreValid) {
    const VlekFacts v = vlek_facts();
    const json& r = v.report;
    auto args = v.base;
    args.insert(args.end(), {"--min-tcb", tcb_flag(r["reported_tcb"], 0),
                             "--measurement", other_hex(r["measurement"]), "--measurement", r["measurement"],
                             "--max-vmpl", std::to_string(r["vmpl"].get<int>()),
                             "--host-data", r["host_data"], "--id-key-digest", r["id_key_digest"],
                             "--author-key-digest", r["author_key_digest"],
                             "--smt", r["platform_info"]["smt_enabled"].get<bool>() ? "on" : "off",
                             "--single-socket", r["policy"]["single_socket"].get<bool>() ? "on" : "off"});
    int code = -1;
    const json doc = verify_json(args, code);
    EXPECT_EQ(code, 0) << doc.dump(2);
}

TEST(CliSnpPolicy, EachViolationIsNamedAndAllAreListed) {
    const VlekFacts v = vlek_facts();
    const json& r = v.report;
    ASSERT_GE(r["vmpl"].get<int>(), 1);  // README: the VLEK report comes from VMPL 1
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
        {"min-tcb", {"--min-tcb", tcb_flag(r["reported_tcb"], 1)}},
        {"measurement", {"--measurement", other_hex(r["measurement"])}},
        {"vmpl", {"--max-vmpl", std::to_string(r["vmpl"].get<int>() - 1)}},
        {"host-data", {"--host-data", other_hex(r["host_data"])}},
        {"id-key-digest", {"--id-key-digest", other_hex(r["id_key_digest"])}},
        {"author-key-digest", {"--author-key-digest", other_hex(r["author_key_digest"])}},
        {"smt", {"--smt", r["platform_info"]["smt_enabled"].get<bool>() ? "off" : "on"}},
        {"single-socket", {"--single-socket", r["policy"]["single_socket"].get<bool>() ? "off" : "on"}},
    };
    std::vector<std::string> all = v.base;
    std::set<std::string> expected;
    for (const auto& [check, flags] : cases) {
        SCOPED_TRACE(check);
        auto args = v.base;
        args.insert(args.end(), flags.begin(), flags.end());
        int code = -1;
        const json doc = verify_json(args, code);
        EXPECT_EQ(code, 1) << doc.dump(2);
        EXPECT_EQ(checks_of(doc), std::set<std::string>{check}) << doc.dump(2);
        const ProcessResult text = verify(args);
        EXPECT_EQ(text.exit_code, 1);
        EXPECT_NE(text.err.find("cvmunlock: refused: " + check + ": "), std::string::npos) << text.err;
        all.insert(all.end(), flags.begin(), flags.end());
        expected.insert(check);
    }
    int code = -1;
    const json doc = verify_json(all, code);
    EXPECT_EQ(code, 1) << doc.dump(2);
    EXPECT_EQ(checks_of(doc), expected) << doc.dump(2);
    EXPECT_EQ(doc["refusals"].size(), expected.size()) << doc.dump(2);
    const ProcessResult text = verify(all);
    for (const auto& check : expected) {
        EXPECT_NE(text.err.find("cvmunlock: refused: " + check + ": "), std::string::npos) << text.err;
    }
}

TEST(CliSnpPolicy, DebugAndPolicyViolationsTogether) {
    const std::string gsg = kSnp + "/go-sev-guest/";
    const json r = report_json(gsg + "attestation.bin")["report"];
    int code = -1;
    const json doc = verify_json({"--report", gsg + "attestation.bin", "--certs", gsg + "vcek.testcer", "--min-tcb",
                                  tcb_flag(r["reported_tcb"], 1), "--measurement", other_hex(r["measurement"])},
                                 code);
    EXPECT_EQ(code, 1) << doc.dump(2);
    EXPECT_EQ(checks_of(doc), (std::set<std::string>{"debug", "min-tcb", "measurement"})) << doc.dump(2);
}

// The summary of a refused report must not claim the policy holds.
TEST(CliSnpPolicy, SummaryOfAPolicyRefusalDoesNotSayPolicySatisfied) {
    const std::string gsg = kSnp + "/go-sev-guest/";
    int code = -1;
    const json doc = verify_json({"--report", gsg + "attestation.bin", "--certs", gsg + "vcek.testcer"}, code);
    EXPECT_EQ(code, 1);
    EXPECT_TRUE(doc["summary"].is_null()) << doc.dump(2);  // a refused report has no summary
    EXPECT_EQ(doc["error"].value("message", "").find("policy satisfied"), std::string::npos) << doc.dump(2);
}

TEST(CliSnpPolicy, MalformedFlagValuesAreUsageErrors) {
    const VlekFacts v = vlek_facts();
    const std::string hex95(95, 'a'), hex98(98, 'a'), hex62(62, 'a');
    const std::vector<std::pair<std::string, std::string>> cases{
        {"--min-tcb", "bl=x"},      {"--min-tcb", "bl=256"},       {"--min-tcb", "cpu=1"},
        {"--min-tcb", "bl"},        {"--min-tcb", "bl=1,,snp=2"},  {"--min-tcb", "bl=-1"},
        {"--measurement", "00"},    {"--measurement", hex95},      {"--measurement", std::string(96, 'g')},
        {"--host-data", hex62},     {"--id-key-digest", "xyz"},    {"--author-key-digest", hex98},
        {"--max-vmpl", "4"},        {"--max-vmpl", "-1"},          {"--max-vmpl", "one"},
        {"--smt", "maybe"},         {"--single-socket", "2"},      {"--at", "yesterday"},
        {"--at", "2025-06-01"},     {"--at", "2025-06-01T00:00:00"}, {"--at", "2025-06-01T00:00:00+2:00"},
        {"--at", "2025-06-01T00:00:00Zjunk"},
    };
    for (const auto& [flag, value] : cases) {
        SCOPED_TRACE(flag + " " + value);
        auto args = v.base;
        args.insert(args.end(), {flag, value});
        const ProcessResult r = verify(args);
        EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
        EXPECT_NE(r.err.find(flag), std::string::npos) << r.err;
    }
    auto many = v.base;  // a policy holds at most 64 launch measurements
    for (int i = 0; i < 65; ++i) many.insert(many.end(), {"--measurement", std::string(96, 'a')});
    ProcessResult r = verify(many);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--measurement"), std::string::npos) << r.err;
    r = verify({"--no-such-flag"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
}

// ---------------------------------------------------------------- malformed inputs


}  // namespace
}  // namespace cvmunlock::cli_snp_test
