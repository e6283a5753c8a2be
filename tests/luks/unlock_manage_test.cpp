// status, wipe and enroll --wipe-slot, checked against what stock cryptsetup sees.
#include "unlock_fixture.hpp"

namespace cvmunlock::unlock_test {
namespace {

json status_pcr(const json& status, int pcr) {
    for (const auto& p : status["tokens"][0]["pcrs"]) {
        if (p["pcr"] == pcr) return p;
    }
    return json::object();
}

TEST_F(UnlockSwtpm, StatusTellsWhichPcrsStillMatch) {
    ASSERT_EQ(enroll(image, {"--pcrs", "7"}).exit_code, 0);
    auto s = cli({"status", image, "--tpm", tpm.tcti(), "--json"});
    ASSERT_EQ(s.exit_code, 0) << show(s);
    json j = parse_json(s.out);
    ASSERT_TRUE(j.is_object() && j["tokens"].size() == 1) << s.out;
    EXPECT_EQ(status_pcr(j, 7).value("matches", false), true) << j.dump(2);
    EXPECT_EQ(status_pcr(j, 15).value("matches", false), true) << j.dump(2);
    EXPECT_EQ(j["tokens"][0].value("srk_matches", false), true) << j.dump(2);

    extend_pcr(7, "sha256", std::string(64, 'a'));
    s = cli({"status", image, "--tpm", tpm.tcti(), "--json"});
    ASSERT_EQ(s.exit_code, 0) << show(s);
    j = parse_json(s.out);
    ASSERT_TRUE(j.is_object() && j["tokens"].size() == 1) << s.out;
    EXPECT_EQ(status_pcr(j, 7).value("matches", true), false) << j.dump(2);
    EXPECT_EQ(status_pcr(j, 7).value("current", ""), pcr_value(7)) << j.dump(2);
    EXPECT_EQ(status_pcr(j, 15).value("matches", false), true) << j.dump(2);

    testing::Swtpm other;
    ASSERT_TRUE(other.ok()) << other.error();
    s = cli({"status", image, "--tpm", other.tcti(), "--json"});
    ASSERT_EQ(s.exit_code, 0) << show(s);
    j = parse_json(s.out);
    ASSERT_TRUE(j.is_object() && j["tokens"].size() == 1) << s.out;
    EXPECT_EQ(j["tokens"][0].value("srk_matches", true), false) << j.dump(2);
}

TEST_F(UnlockSwtpm, WipeRemovesTheTokenAndItsKeyslotOnly) {
    auto e = enroll(image, {"--pcrs", "7", "--recovery-key", "--json"});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    const json enrolled = parse_json(e.out);
    ASSERT_TRUE(enrolled.is_object()) << e.out;
    ASSERT_EQ(cvmunlock_token_ids(image), std::vector<int>{0});
    const json token = exported_token(image, 0);
    ASSERT_EQ(token["keyslots"].size(), 1u) << token.dump();
    const std::string tpm_slot = token["keyslots"][0].get<std::string>();
    const std::string recovery_slot = std::to_string(enrolled["recovery_keyslot"].get<int>());
    ASSERT_TRUE(luks_metadata(image)["keyslots"].contains(tpm_slot));

    // A token of another type, bound to keyslot 0, must survive.
    const std::string foreign = path("foreign.json");
    write_file(foreign, R"({"type":"other-vendor","keyslots":["0"],"data":"x"})");
    auto imp = run_process({"cryptsetup", "token", "import", "--json-file", foreign, "--token-id", "5", image});
    ASSERT_EQ(imp.exit_code, 0) << show(imp);

    auto w = cli({"wipe", image});
    EXPECT_EQ(w.exit_code, 0) << show(w);
    const json meta = luks_metadata(image);
    EXPECT_TRUE(cvmunlock_token_ids(image).empty()) << meta.dump(2);
    EXPECT_FALSE(meta["keyslots"].contains(tpm_slot)) << meta["keyslots"].dump(2);
    EXPECT_TRUE(meta["keyslots"].contains("0"));
    EXPECT_TRUE(meta["keyslots"].contains(recovery_slot));
    EXPECT_EQ(meta["tokens"].value("5", json()).value("type", ""), "other-vendor") << meta["tokens"].dump(2);
    EXPECT_TRUE(opens(image, key_file));
    const std::string recovery_file = path("recovery.key");
    write_file(recovery_file, enrolled["recovery_key"].get<std::string>());
    EXPECT_TRUE(opens(image, recovery_file));

    auto r = unlock(image);
    EXPECT_EQ(r.exit_code, 5) << "no cvmunlock token left: " << show(r);
    w = cli({"wipe", image});
    EXPECT_EQ(w.exit_code, 1) << "nothing left to wipe: " << show(w);
}

TEST_F(UnlockSwtpm, EnrollWipeSlotReplacesTheOlderToken) {
    ASSERT_EQ(enroll(image, {"--pcrs", "7"}).exit_code, 0);
    const std::vector<int> first_ids = cvmunlock_token_ids(image);
    ASSERT_EQ(first_ids.size(), 1u);
    const std::string first_slot = exported_token(image, first_ids[0])["keyslots"][0].get<std::string>();

    extend_pcr(7, "sha256", std::string(64, 'a'));  // e.g. a firmware update: re-enroll for the new value
    ASSERT_EQ(unlock(image).exit_code, 1);
    auto e = enroll(image, {"--pcrs", "7", "--wipe-slot", "--json"});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    EXPECT_EQ(parse_json(e.out).value("wiped_tokens", json()), json(first_ids)) << e.out;

    const std::vector<int> ids = cvmunlock_token_ids(image);
    ASSERT_EQ(ids.size(), 1u) << luks_metadata(image).dump(2);
    const std::string slot = exported_token(image, ids[0])["keyslots"][0].get<std::string>();
    const json keyslots = luks_metadata(image)["keyslots"];
    EXPECT_NE(slot, first_slot);
    EXPECT_FALSE(keyslots.contains(first_slot)) << keyslots.dump(2);
    EXPECT_TRUE(keyslots.contains("0"));
    EXPECT_TRUE(opens(image, key_file));

    auto r = unlock(image, {"--json"});
    EXPECT_EQ(r.exit_code, 0) << show(r);
    EXPECT_EQ(parse_json(r.out).value("token", -1), ids[0]) << r.out;
}

}  // namespace
}  // namespace cvmunlock::unlock_test
