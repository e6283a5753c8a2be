// Usage errors of the command line: unknown commands and options are named,
// with the closest name when there is one; the same error as a JSON document
// with --json; exit 2 always.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "process.hpp"

namespace cvmunlock {
namespace {

using nlohmann::json;
using testing::run_process;

testing::ProcessResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), CVMUNLOCK_CLI);
    return run_process(args);
}

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

TEST(CliUsage, UnknownCommandIsNamedWithTheClosestOne) {
    auto r = cli({"unlok", "disk.img"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(has(r.err, "unknown command 'unlok'; did you mean 'unlock'?")) << r.err;
    r = cli({"frobnicate"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(has(r.err, "unknown command 'frobnicate'")) << r.err;
    EXPECT_FALSE(has(r.err, "did you mean")) << r.err;
    EXPECT_TRUE(has(r.err, "eventlog, enroll")) << r.err;
    r = cli({"eventlog", "shwo"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(has(r.err, "eventlog: unknown subcommand 'shwo'; did you mean 'show'?")) << r.err;
}

TEST(CliUsage, UnknownOptionIsNamedWithTheClosestOne) {
    auto r = cli({"eventlog", "show", "--evntlog", "x"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(has(r.err, "eventlog show: unknown option '--evntlog'; did you mean '--eventlog'?")) << r.err;
    r = cli({"eventlog", "verify", "--bank=sha256", "--expected", "x"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(has(r.err, "unknown option '--bank'")) << r.err;
    r = cli({"status", "disk.img", "--frobnicate"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(has(r.err, "status: unknown option '--frobnicate'")) << r.err;
}

TEST(CliUsage, MissingSubcommandListsThem) {
    auto r = cli({});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(has(r.err, "a subcommand is required (one of: eventlog")) << r.err;
    r = cli({"snp"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(has(r.err, "snp: a subcommand is required (one of: check, verify, report)")) << r.err;
}

TEST(CliUsage, JsonGetsTheErrorDocument) {
    for (const std::vector<std::string>& args : {std::vector<std::string>{"unlok", "--json"},
                                                 std::vector<std::string>{"status", "--json"},
                                                 std::vector<std::string>{"eventlog", "replay", "--json", "--nope"}}) {
        auto r = cli(args);
        EXPECT_EQ(r.exit_code, 2);
        const json j = json::parse(r.out, nullptr, false);
        ASSERT_TRUE(j.is_object()) << r.out << r.err;
        EXPECT_EQ(j["version"], 1);
        EXPECT_EQ(j["ok"], false);
        EXPECT_EQ(j["error"]["exit"], 2);
        EXPECT_EQ(j["error"]["code"], "usage");
        EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
        EXPECT_TRUE(has(r.err, j["error"]["message"].get<std::string>())) << "stderr and JSON say the same";
    }
}

}  // namespace
}  // namespace cvmunlock
