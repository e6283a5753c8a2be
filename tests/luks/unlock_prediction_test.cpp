// Sealing to PCR values other than the current ones (literal --pcr-value, a
// prediction from an event log) and naming the event that made a PCR differ.
#include <map>

#include "cvmunlock/eventlog.hpp"
#include "eventlog_edit.hpp"
#include "unlock_fixture.hpp"

namespace cvmunlock::unlock_test {
namespace {

TEST_F(UnlockSwtpm, LiteralPcrValueEqualToTheCurrentOneUnlocksAnotherDoesNot) {
    extend_pcr(7, "sha256", std::string(64, 'a'));  // not the all-zero reset value
    const std::string current = pcr_value(7);
    std::string other = current;
    other[0] = other[0] == '0' ? '1' : '0';

    ASSERT_EQ(enroll(image, {"--pcrs", "7", "--pcr-value", "7:sha256=" + current}).exit_code, 0);
    auto r = unlock(image);
    EXPECT_EQ(r.exit_code, 0) << show(r);

    const std::string other_image = make_image("other.img");
    ASSERT_EQ(enroll(other_image, {"--pcrs", "7", "--pcr-value", "7:sha256=" + other}).exit_code, 0);
    r = unlock(other_image, {"--json"});
    EXPECT_EQ(r.exit_code, 1) << show(r);
    const json j = parse_json(r.out);
    ASSERT_TRUE(j.is_object()) << r.out;
    ASSERT_EQ(j["changed_pcrs"].size(), 1u) << j.dump(2);
    EXPECT_EQ(j["changed_pcrs"][0]["pcr"], 7);
    EXPECT_EQ(j["changed_pcrs"][0]["current"], current);
}

// BUG (src/engine/enroll.cpp:39-40 with src/cli/volume_cmds.cpp:73-74): a
// --pcr-value for a PCR that is not in --pcrs is accepted and silently dropped:
// the user asked for PCR 4 to be bound to a value and it is not bound at all.
// Expected: a usage error (exit 2), or PCR 4 sealed to that value (then this
// boot, whose PCR 4 differs, must not unlock).
TEST_F(UnlockSwtpm, PcrValueForAPcrOutsideThePolicyIsNotSilentlyDropped) {
    const std::string not_pcr4(64, 'c');
    ASSERT_NE(pcr_value(4), not_pcr4);
    auto e = enroll(image, {"--pcrs", "7", "--pcr-value", "4:sha256=" + not_pcr4});
    if (e.exit_code == 2) return;
    ASSERT_EQ(e.exit_code, 0) << show(e);
    auto r = unlock(image);
    EXPECT_NE(r.exit_code, 0) << "sealed with --pcr-value 4:sha256=" << not_pcr4
                              << " yet unlocks with PCR 4 = " << pcr_value(4) << "\n"
                              << show(r);
}

// A log that cannot predict what is to be sealed is refused, naming why, and
// nothing is written: the SHA-1-only legacy log while sealing the sha256
// bank, or a log with no PCR 7 event (sealing PCR 7's reset value would lock
// the volume to a boot that never happens).
TEST_F(UnlockSwtpm, PredictionRefusesWhatTheLogCannotPredict) {
    const std::string before = read_file(image);
    const std::string sha1_log = std::string(CVMUNLOCK_TEST_DATA) + "/eventlog/go-attestation/ebs_event_missing_eventlog";
    auto e = enroll(image, {"--pcrs", "7", "--from-eventlog", sha1_log});
    EXPECT_EQ(e.exit_code, 1) << show(e);
    EXPECT_TRUE(contains(e.err, sha1_log + ": the event log records no sha256 digests (it has: sha1)")) << e.err;
    EXPECT_TRUE(read_file(image) == before) << "the image changed";

    auto log = parse_event_log(ByteView(reinterpret_cast<const std::uint8_t*>(read_file(kEventLog).data()),
                                        read_file(kEventLog).size()));
    ASSERT_TRUE(log) << log.error().message;
    const Bytes cut = serialize_event_log(testing::without_pcr(*log, 7));
    const std::string cut_log = path("no-pcr7.bin");
    write_file(cut_log, std::string(cut.begin(), cut.end()));
    e = enroll(image, {"--pcrs", "7", "--from-eventlog", cut_log});
    EXPECT_EQ(e.exit_code, 1) << show(e);
    EXPECT_TRUE(contains(e.err, cut_log + ": the event log has no event for PCR 7 (sha256)")) << e.err;
    EXPECT_TRUE(read_file(image) == before) << "the image changed";

    // PCRs the log does record are predicted as before.
    e = enroll(image, {"--pcrs", "0", "--from-eventlog", cut_log});
    EXPECT_EQ(e.exit_code, 0) << show(e);
}

TEST_F(UnlockSwtpm, PredictionFromAnEventLogUnlocksOnlyAfterThatBoot) {
    // Enrolled before the boot happened: PCRs 0 and 7 are still at their reset values.
    auto e = enroll(image, {"--pcrs", "0,7", "--from-eventlog", kEventLog});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    auto r = unlock(image, {"--json"});
    EXPECT_EQ(r.exit_code, 1) << show(r);
    const json j = parse_json(r.out);
    ASSERT_TRUE(j.is_object()) << r.out;
    std::vector<int> changed;
    for (const auto& c : j["changed_pcrs"])
        changed.push_back(c["pcr"].get<int>());
    EXPECT_EQ(changed, (std::vector<int>{0, 7})) << j.dump(2);

    extend_log(kEventLog);
    r = unlock(image);
    EXPECT_EQ(r.exit_code, 0) << show(r);
}

// Story: the volume was enrolled for boot A (the vector log); this boot measured
// B, which differs from A in one PCR 7 event. The refusal, given B's log, names
// that event.
TEST_F(UnlockSwtpm, RefusalNamesTheFirstDifferingEvent) {
    const std::string log_a = read_file(kEventLog);
    auto parsed = parse_event_log(Bytes(log_a.begin(), log_a.end()));
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
    EventLog log = std::move(*parsed);
    std::vector<std::size_t> pcr7;
    for (std::size_t i = 0; i < log.events.size(); ++i) {
        if (log.events[i].pcr == 7 && log.events[i].type != event_type::kNoAction) pcr7.push_back(i);
    }
    ASSERT_GE(pcr7.size(), 4u);
    const std::size_t changed = pcr7[2];  // the third PCR 7 measurement
    for (auto& d : log.events[changed].digests)
        d.digest[0] ^= 0xff;  // every bank, as firmware would
    const Bytes b = serialize_event_log(log);
    const std::string log_b = path("boot-b.log");
    write_file(log_b, std::string(b.begin(), b.end()));

    extend_log(log_b);
    auto e = enroll(image, {"--pcrs", "7", "--from-eventlog", kEventLog, "--eventlog", kEventLog});
    ASSERT_EQ(e.exit_code, 0) << show(e);

    auto r = unlock(image, {"--eventlog", log_b});
    EXPECT_EQ(r.exit_code, 1) << show(r);
    const std::string expected = "first differing event #" + std::to_string(changed) + " ";
    EXPECT_TRUE(contains(r.err, "PCR 7 (sha256) changed since enrollment")) << r.err;
    EXPECT_TRUE(contains(r.err, expected)) << "expected \"" << expected << "\" in\n" << r.err;

    r = unlock(image, {"--eventlog", log_b, "--json"});
    const json j = parse_json(r.out);
    ASSERT_TRUE(j.is_object()) << r.out;
    ASSERT_EQ(j["changed_pcrs"].size(), 1u) << j.dump(2);
    EXPECT_EQ(j["changed_pcrs"][0]["pcr"], 7);
    EXPECT_EQ(j["changed_pcrs"][0]["current"], pcr_value(7));
    ASSERT_TRUE(j["changed_pcrs"][0]["event"].is_string()) << j.dump(2);
    EXPECT_EQ(j["changed_pcrs"][0]["event"].get<std::string>().rfind("#" + std::to_string(changed) + " ", 0), 0u)
        << j.dump(2);
}

// `explain`: the enrolled boot (the vector log) against this one, whose
// SecureBoot variable was measured with other content (as with Secure Boot
// off): PCR 7 differs by exactly that event, listed as this boot's event and
// as the enrolled digest this boot lacks; PCR 0 is as enrolled. Advisory.
TEST_F(UnlockSwtpm, ExplainListsTheEventsThatDifferFromTheEnrolledBoot) {
    ASSERT_EQ(enroll(image, {"--pcrs", "0,7", "--from-eventlog", kEventLog, "--eventlog", kEventLog}).exit_code, 0);
    const std::string edit_tool = (std::filesystem::path(kExtendLogTool).parent_path() / "cvmunlock-test-edit-log").string();
    const std::string edited = path("secureboot-off.bin");
    auto r = run_process({edit_tool, kEventLog, edited, "SecureBoot"});
    ASSERT_EQ(r.exit_code, 0) << show(r);
    extend_log(edited);
    r = cli({"explain", image, "--tpm", tpm.tcti(), "--eventlog", edited, "--json"});
    ASSERT_EQ(r.exit_code, 0) << show(r);
    const json j = parse_json(r.out);
    ASSERT_TRUE(j.is_object()) << r.out;
    EXPECT_TRUE(contains(j["advisory"].get<std::string>(), "host can write")) << j.dump(2);
    const json& pcrs = j["tokens"][0]["pcrs"];
    std::map<int, json> by_pcr;
    for (const auto& p : pcrs) by_pcr[p["pcr"].get<int>()] = p;
    EXPECT_FALSE(by_pcr[0]["changed"].get<bool>()) << pcrs.dump(2);
    ASSERT_TRUE(by_pcr[7]["changed"].get<bool>()) << pcrs.dump(2);
    const json& events = by_pcr[7]["events"];
    ASSERT_EQ(events.size(), 2u) << events.dump(2);
    int added = 0, removed = 0;
    for (const auto& e : events) {
        if (e["change"] == "added") {
            ++added;
            EXPECT_TRUE(contains(e["event"].get<std::string>(), "SecureBoot")) << e.dump();
        } else {
            ++removed;
        }
    }
    EXPECT_EQ(added, 1);
    EXPECT_EQ(removed, 1);
    r = cli({"explain", image, "--tpm", tpm.tcti(), "--eventlog", edited});
    EXPECT_EQ(r.exit_code, 0) << show(r);
    EXPECT_TRUE(contains(r.out, "advisory")) << r.out;
    EXPECT_TRUE(contains(r.out, "+ #")) << r.out;
}

}  // namespace
}  // namespace cvmunlock::unlock_test
