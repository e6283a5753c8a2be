// The `cvmunlock eventlog` commands as a user runs them: output shape and exit codes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "cvmunlock/eventlog.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

namespace cvmunlock {
namespace {

using nlohmann::json;
using testing::run_process;

const std::string kData = CVMUNLOCK_TEST_DATA;
const std::string kUbuntu = kData + "/eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin";
const std::string kEbs = kData + "/eventlog/go-attestation/ebs_event_missing_eventlog";

json expected_all() {
    std::ifstream in(kData + "/eventlog/expected_pcrs.json");
    return json::parse(in);
}

using testing::TempDir;

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string cli() { return CVMUNLOCK_CLI; }

TEST(CliEventLog, ReplayJsonReproducesEveryVector) {
    const json all = expected_all();
    for (const auto& [name, entry] : all.items()) {
        SCOPED_TRACE(name);
        auto r = run_process({cli(), "eventlog", "replay", "--eventlog", kData + "/eventlog/" + name, "--json"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        const json out = json::parse(r.out);
        ASSERT_TRUE(out.contains("banks") && out.contains("event_count") && out.contains("startup_locality"));
        if (entry.contains("startup_locality")) {
            EXPECT_EQ(out["startup_locality"], entry["startup_locality"]);
        }
        if (!entry.contains("expected_pcrs")) continue;
        for (const auto& [bank, pcrs] : entry["expected_pcrs"].items()) {
            for (const auto& [pcr, value] : pcrs.items()) {
                const bool ebs_pcr5 = name.find("ebs_event_missing") != std::string::npos && pcr == "5";
                if (ebs_pcr5) {
                    EXPECT_NE(out["banks"][bank][pcr], value);
                } else {
                    EXPECT_EQ(out["banks"][bank][pcr], value) << bank << " PCR " << pcr;
                }
            }
        }
    }
}

TEST(CliEventLog, VerifyExpectedPassesAndNamesTheEbsPcr) {
    TempDir dir;
    const json all = expected_all();
    const auto ubuntu = dir.write("u.json", json{{"banks", all["go-tpm-tools/ubuntu-2404-amd-sevsnp.bin"]["expected_pcrs"]}}.dump());
    auto r = run_process({cli(), "eventlog", "verify", "--eventlog", kUbuntu, "--expected", ubuntu});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

    const auto ebs = dir.write("e.json", json{{"banks", all["go-attestation/ebs_event_missing_eventlog"]["expected_pcrs"]}}.dump());
    r = run_process({cli(), "eventlog", "verify", "--eventlog", kEbs, "--expected", ebs});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_NE(r.out.find("sha1 PCR 5:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("e5781a2fd49c23a33b16bf0ba5f10efa1aa5d43c"), std::string::npos) << r.out;
}

TEST(CliEventLog, AlteredDigestInTheFileFailsVerify) {
    TempDir dir;
    const json all = expected_all();
    const auto expected = dir.write("u.json", json{{"banks", all["go-tpm-tools/ubuntu-2404-amd-sevsnp.bin"]["expected_pcrs"]}}.dump());
    std::string raw = read_all(kUbuntu);
    auto log = parse_event_log(ByteView(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()));
    ASSERT_TRUE(log.has_value());
    const Event& ev = log->events.at(20);
    raw[ev.offset + 14] = static_cast<char>(raw[ev.offset + 14] ^ 0x80);  // first byte of the first digest
    const auto altered = dir.write("altered.bin", raw);
    auto r = run_process({cli(), "eventlog", "verify", "--eventlog", altered, "--expected", expected});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("PCR " + std::to_string(ev.pcr) + ":"), std::string::npos) << r.out;
}

TEST(CliEventLog, MalformedAndMissingInputs) {
    TempDir dir;
    const std::string raw = read_all(kUbuntu);
    const auto truncated = dir.write("truncated.bin", raw.substr(0, 1000));
    auto r = run_process({cli(), "eventlog", "replay", "--eventlog", truncated});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.err.find(truncated), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("byte offset"), std::string::npos) << r.err;

    r = run_process({cli(), "eventlog", "show", "--eventlog", dir.write("none", "") + ".missing"});
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_NE(r.err.find("no event log"), std::string::npos) << r.err;

    const auto bad_json = dir.write("bad.json", "{\"banks\": {\"sha256\": {\"7\": \"00\"}}}");
    r = run_process({cli(), "eventlog", "verify", "--eventlog", kUbuntu, "--expected", bad_json});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.err.find(bad_json), std::string::npos) << r.err;
}

TEST(CliEventLog, UsageErrorsExitTwo) {
    const std::vector<std::vector<std::string>> cases = {
        {cli()},
        {cli(), "eventlog"},
        {cli(), "eventlog", "verify", "--eventlog", kUbuntu},
        {cli(), "eventlog", "verify", "--eventlog", kUbuntu, "--expected", "x", "--pcrs", "0,99"},
        {cli(), "eventlog", "verify", "--eventlog", kUbuntu, "--expected", "x", "--pcr-bank", "md5"},
        {cli(), "eventlog", "replay", "--bogus"},
    };
    for (const auto& argv : cases) {
        auto r = run_process(argv);
        EXPECT_EQ(r.exit_code, 2) << argv.back() << "\n" << r.err;
    }
    auto help = run_process({cli(), "eventlog", "verify", "--help"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE(help.out.find("Exit codes"), std::string::npos);
}

TEST(CliEventLog, ShowFlagsUntrustedEventData) {
    auto r = run_process({cli(), "eventlog", "show", "--eventlog", kData + "/eventlog/go-tpm-tools/gdc-host.bin", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json out = json::parse(r.out);
    EXPECT_EQ(out["events"][3]["digest_check"], "mismatch");
    EXPECT_EQ(out["events"][3]["untrusted"], true);
    EXPECT_EQ(out["events"][9]["decoded"]["summary"], "SecureBoot = 0");
}

}  // namespace
}  // namespace cvmunlock
