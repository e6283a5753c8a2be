// status, wipe and enroll --wipe-slot, checked against what stock cryptsetup sees.
#include <sys/stat.h>

#include <regex>

#include "unlock_fixture.hpp"

namespace cvmunlock::unlock_test {
namespace {

json status_pcr(const json& status, int pcr) {
    for (const auto& p : status["tokens"][0]["pcr_values"]) {
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

    EXPECT_EQ(j["ok"], true) << j.dump(2);
    EXPECT_EQ(j["tokens"][0]["problem"], nullptr) << j.dump(2);

    // Only the lock PCR extended (after boot): the token is locked, as it should be; exit 0.
    auto l = cli({"lock", "--tpm", tpm.tcti(), "--json"});
    ASSERT_EQ(l.exit_code, 0) << show(l);
    EXPECT_EQ(parse_json(l.out)["lock_pcr"], 15) << l.out;
    s = cli({"status", image, "--tpm", tpm.tcti(), "--json"});
    ASSERT_EQ(s.exit_code, 0) << show(s);
    j = parse_json(s.out);
    EXPECT_EQ(j["tokens"][0]["locked"], true) << j.dump(2);
    EXPECT_EQ(status_pcr(j, 15).value("matches", true), false) << j.dump(2);

    extend_pcr(7, "sha256", std::string(64, 'a'));
    s = cli({"status", image, "--tpm", tpm.tcti(), "--json"});
    ASSERT_EQ(s.exit_code, 1) << show(s);  // a sealed PCR changed: exit 1
    j = parse_json(s.out);
    EXPECT_EQ(j["ok"], false) << j.dump(2);
    EXPECT_EQ(j["error"]["code"], "pcr-changed") << j.dump(2);
    EXPECT_EQ(j["tokens"][0]["problem"], "pcr-changed") << j.dump(2);
    ASSERT_TRUE(j.is_object() && j["tokens"].size() == 1) << s.out;
    EXPECT_EQ(status_pcr(j, 7).value("matches", true), false) << j.dump(2);
    EXPECT_EQ(status_pcr(j, 7).value("current", ""), pcr_value(7)) << j.dump(2);

    testing::Swtpm other;
    ASSERT_TRUE(other.ok()) << other.error();
    s = cli({"status", image, "--tpm", other.tcti(), "--json"});
    ASSERT_EQ(s.exit_code, 1) << show(s);
    j = parse_json(s.out);
    ASSERT_TRUE(j.is_object() && j["tokens"].size() == 1) << s.out;
    EXPECT_EQ(j["tokens"][0].value("srk_matches", true), false) << j.dump(2);
    EXPECT_EQ(j["error"]["code"], "srk-mismatch") << j.dump(2);

    // No vTPM at all: exit 4, the keys still there with null values.
    s = cli({"status", image, "--tpm", "swtpm:host=127.0.0.1,port=1", "--json"});
    EXPECT_EQ(s.exit_code, 4) << show(s);
    j = parse_json(s.out);
    ASSERT_TRUE(j.is_object()) << s.out;
    EXPECT_TRUE(j["tpm_error"].is_string()) << j.dump(2);
    ASSERT_EQ(j["tokens"].size(), 1u) << j.dump(2);
    EXPECT_TRUE(j["tokens"][0]["srk_matches"].is_null()) << j.dump(2);
    EXPECT_TRUE(status_pcr(j, 7)["current"].is_null()) << j.dump(2);
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

    // Without a way in that stays (every cvmunlock token goes), nothing is changed.
    const std::string untouched = read_file(image);
    auto w = cli({"wipe", image, "--tpm", tpm.tcti()});
    EXPECT_EQ(w.exit_code, 1) << show(w);
    EXPECT_TRUE(contains(w.err, "needs a way in")) << w.err;
    EXPECT_TRUE(read_file(image) == untouched) << "a refused wipe changed the image";

    w = cli({"wipe", image, "--tpm", tpm.tcti(), "--unlock-key-file", key_file});
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
    w = cli({"wipe", image, "--tpm", tpm.tcti(), "--unlock-key-file", key_file});
    EXPECT_EQ(w.exit_code, 1) << "nothing left to wipe: " << show(w);
}

TEST_F(UnlockSwtpm, EnrollWipeSlotReplacesTheOlderToken) {
    ASSERT_EQ(enroll(image, {"--pcrs", "7"}).exit_code, 0);
    const std::vector<int> first_ids = cvmunlock_token_ids(image);
    ASSERT_EQ(first_ids.size(), 1u);
    const std::string first_slot = exported_token(image, first_ids[0])["keyslots"][0].get<std::string>();

    extend_pcr(7, "sha256", std::string(64, 'a'));  // e.g. a firmware update: re-enroll for the new value
    ASSERT_EQ(unlock(image).exit_code, 1);
    auto e = enroll(image, {"--pcrs", "7", "--wipe-slot=cvmunlock", "--json"});
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

// Key files as cryptsetup takes them: up to 8 MiB (--keyfile-size's default);
// beyond that, or empty, refused before anything is tried.
TEST_F(UnlockSwtpm, KeyFilesUpToCryptsetupsLimit) {
    std::string big(5u << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
    const std::string big_file = path("big.key");
    write_file(big_file, big);
    auto add = run_process({"cryptsetup", "luksAddKey", "--batch-mode", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations",
                            "1000", "--key-file", key_file, image, big_file});
    ASSERT_EQ(add.exit_code, 0) << show(add);
    auto e = cli({"enroll", image, "--tpm", tpm.tcti(), "--pcrs", "7", "--unlock-key-file", big_file});
    EXPECT_EQ(e.exit_code, 0) << show(e);

    const std::string huge_file = path("huge.key");
    write_file(huge_file, std::string((8u << 20) + 1, 'k'));
    const std::string empty_file = path("empty.key");
    write_file(empty_file, "");
    const std::string before = read_file(image);
    e = cli({"enroll", image, "--tpm", tpm.tcti(), "--pcrs", "7", "--unlock-key-file", huge_file});
    EXPECT_EQ(e.exit_code, 3) << show(e);
    EXPECT_TRUE(contains(e.err, huge_file + ": longer than 8388608 bytes")) << e.err;
    e = cli({"enroll", image, "--tpm", tpm.tcti(), "--pcrs", "7", "--unlock-key-file", empty_file});
    EXPECT_EQ(e.exit_code, 3) << show(e);
    EXPECT_TRUE(contains(e.err, "empty key file")) << e.err;
    // Options that exclude each other are refused, not one silently preferred.
    e = cli({"enroll", image, "--tpm", tpm.tcti(), "--pcrs", "7", "--unlock-key-file", key_file, "--from-eventlog",
             kEventLog, "--pcr-value", "7:sha256=" + std::string(64, '0')});
    EXPECT_EQ(e.exit_code, 2) << show(e);
    EXPECT_TRUE(contains(e.err, "excludes")) << e.err;
    EXPECT_TRUE(read_file(image) == before) << "the image changed";
}

// Without a key file, the passphrase is asked the way the system asks: where
// systemd runs, through systemd-ask-password (here a stand-in bind-mounted over
// it in a private mount namespace, with /run/systemd/system present). The
// answer comes back through a pipe; an empty answer is refused, never tried.
TEST_F(UnlockSwtpm, PassphraseIsAskedThroughSystemdAskPassword) {
    const std::string agent = path("ask-password");
    const std::string answer = path("answer");
    const std::string args_seen = path("args");
    write_file(agent, "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + args_seen + "\ncat " + answer + "\necho\n");
    ASSERT_EQ(::chmod(agent.c_str(), 0755), 0);
    auto run = [&](const std::string& reply) {
        write_file(answer, reply);
        return run_process({"unshare", "-m", "sh", "-c",
                            "mount -t tmpfs none /run && mkdir -p /run/systemd/system && "
                            "mount --bind \"$0\" /usr/bin/systemd-ask-password && exec \"$@\"",
                            agent, CVMUNLOCK_CLI, "enroll", image, "--tpm", tpm.tcti(), "--pcrs", "7"});
    };
    const std::string before = read_file(image);
    auto e = run("");
    EXPECT_EQ(e.exit_code, 3) << show(e);
    EXPECT_TRUE(contains(e.err, "empty Passphrase or key for " + image + ": refused, not tried")) << e.err;
    EXPECT_TRUE(read_file(image) == before) << "the image changed";

    e = run(read_file(key_file));
    ASSERT_EQ(e.exit_code, 0) << show(e);
    const std::string seen = read_file(args_seen);
    EXPECT_TRUE(contains(seen, "--id=cvmunlock:" + image)) << seen;
    EXPECT_TRUE(contains(seen, "Passphrase or key for " + image + ":")) << seen;
    EXPECT_EQ(cvmunlock_token_ids(image).size(), 1u);
}

// --wipe-slot takes systemd-cryptenroll's values with their meaning; what it
// would wipe is decided before anything is written, and a selection that would
// leave only cvmunlock tokens to open the volume is refused.
TEST_F(UnlockSwtpm, WipeSlotTakesSystemdValuesAndNeverLeavesOnlyOurToken) {
    // Keyslot 1: a second passphrase that a systemd-tpm2 token names.
    const std::string second = path("second.key");
    write_file(second, "second passphrase");
    auto add = run_process({"cryptsetup", "luksAddKey", "--batch-mode", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations",
                            "1000", "--key-file", key_file, "--key-slot", "1", image, second});
    ASSERT_EQ(add.exit_code, 0) << show(add);
    const std::string tpm2_token = path("tpm2-token.json");
    // The fields systemd's own token plugin requires (cryptsetup validates with it on import).
    write_file(tpm2_token, R"({"type":"systemd-tpm2","keyslots":["1"],"tpm2-blob":"AAAA","tpm2-pcrs":[7],)"
                           R"("tpm2-pcr-bank":"sha256","tpm2-primary-alg":"ecc","tpm2-pin":false,"tpm2-policy-hash":")" +
                               std::string(64, '0') + R"("})");
    auto imp = run_process({"cryptsetup", "token", "import", "--json-file", tpm2_token, image});
    ASSERT_EQ(imp.exit_code, 0) << show(imp);

    // Refused before anything is written: the image stays byte for byte what it was.
    const std::string before = read_file(image);
    for (const std::vector<std::string>& args : {std::vector<std::string>{"--wipe-slot=password,tpm2"},
                                                 std::vector<std::string>{"--wipe-slot", "all"},
                                                 std::vector<std::string>{"--wipe-slot=password", "--wipe-slot=1"}}) {
        std::vector<std::string> a{"--pcrs", "7"};
        a.insert(a.end(), args.begin(), args.end());
        auto e = enroll(image, a);
        EXPECT_EQ(e.exit_code, 1) << show(e);
        EXPECT_TRUE(contains(e.err, "no keyslot would be left that opens without a cvmunlock token")) << e.err;
        EXPECT_TRUE(read_file(image) == before) << "the image changed";
    }
    auto e = enroll(image, {"--pcrs", "7", "--wipe-slot=7"});
    EXPECT_EQ(e.exit_code, 1) << show(e);
    EXPECT_TRUE(contains(e.err, "keyslot 7 is not in use")) << e.err;
    e = enroll(image, {"--pcrs", "7", "--wipe-slot=tmp2"});
    EXPECT_EQ(e.exit_code, 2) << show(e);
    EXPECT_TRUE(contains(e.err, "did you mean \"tpm2\"")) << e.err;
    EXPECT_TRUE(read_file(image) == before) << "the image changed";

    // tpm2: the systemd-tpm2 keyslot and its token go, the passphrase stays.
    e = enroll(image, {"--pcrs", "7", "--wipe-slot=tpm2", "--json"});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    json j = parse_json(e.out);
    EXPECT_EQ(j["wiped_keyslots"], json::array({1})) << j.dump(2);
    EXPECT_EQ(j["wiped_tokens"].size(), 1u) << j.dump(2);
    json meta = luks_metadata(image);
    EXPECT_FALSE(meta["keyslots"].contains("1")) << meta.dump(2);
    for (const auto& [id, t] : meta["tokens"].items()) EXPECT_NE(t.value("type", ""), "systemd-tpm2") << meta.dump(2);
    EXPECT_TRUE(opens(image, key_file));

    // password with a new recovery key: the passphrase goes, the recovery key and our token stay.
    e = enroll(image, {"--pcrs", "7", "--recovery-key", "--wipe-slot=password,cvmunlock", "--json"});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    j = parse_json(e.out);
    EXPECT_TRUE(contains(j["wiped_keyslots"].dump(), "0")) << j.dump(2);
    EXPECT_FALSE(opens(image, key_file));
    const std::string recovery = path("recovery.key");
    write_file(recovery, j.value("recovery_key", ""));
    EXPECT_TRUE(opens(image, recovery));
    EXPECT_EQ(cvmunlock_token_ids(image).size(), 1u) << luks_metadata(image).dump(2);
    auto listed = run_process({"systemd-cryptenroll", image});
    EXPECT_TRUE(contains(listed.out, "recovery")) << show(listed);
    auto r = unlock(image, {"--json"});
    EXPECT_EQ(r.exit_code, 0) << show(r);
}

// A token whose "keyslots" was edited (by a host, or gone stale) to name the
// user's keyslot: wipe removes the token, but never a keyslot the way in opens,
// nor one that is not shaped like a keyslot cvmunlock makes.
TEST_F(UnlockSwtpm, WipeNeverDestroysTheUsersKeyslotWhateverTheTokenSays) {
    auto e = enroll(image, {"--pcrs", "7", "--recovery-key", "--json"});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    const json enrolled = parse_json(e.out);
    const std::string recovery_file = path("recovery.key");
    write_file(recovery_file, enrolled.value("recovery_key", ""));
    json token = exported_token(image, 0);
    token["keyslots"] = json::array({"0"});
    ASSERT_NO_FATAL_FAILURE(replace_token(image, 0, token));

    // The way in is the user's own key: its keyslot is never touched.
    const std::string copy = path("copy.img");
    write_file(copy, read_file(image));
    auto w = cli({"wipe", copy, "--tpm", tpm.tcti(), "--unlock-key-file", key_file});
    EXPECT_EQ(w.exit_code, 0) << show(w);
    EXPECT_TRUE(contains(w.err, "keyslot 0 (named by token 0) kept: it opens with the key given")) << w.err;
    EXPECT_TRUE(opens(copy, key_file));
    EXPECT_TRUE(cvmunlock_token_ids(copy).empty());

    // The way in is the recovery key: keyslot 0 is not shaped like ours, so it stays too.
    w = cli({"wipe", image, "--tpm", tpm.tcti(), "--unlock-key-file", recovery_file});
    EXPECT_EQ(w.exit_code, 0) << show(w);
    EXPECT_TRUE(contains(w.err, "keyslot 0 (named by token 0) kept: it is not a keyslot cvmunlock makes")) << w.err;
    EXPECT_TRUE(opens(image, key_file));
    EXPECT_TRUE(opens(image, recovery_file));
}

// Without a key, a cvmunlock token that stays and still unseals is the way in;
// --token takes the id of a cvmunlock token only; and no wipe leaves a volume
// whose every keyslot needs a cvmunlock token.
TEST_F(UnlockSwtpm, WipeKeepsAWayInThatOpensWithoutOurToken) {
    ASSERT_EQ(enroll(image, {"--pcrs", "7"}).exit_code, 0);
    ASSERT_EQ(enroll(image, {"--pcrs", "7"}).exit_code, 0);
    ASSERT_EQ(cvmunlock_token_ids(image), (std::vector<int>{0, 1}));

    auto w = cli({"wipe", image, "--tpm", tpm.tcti(), "--token", "40"});
    EXPECT_EQ(w.exit_code, 2) << show(w);
    const std::string foreign = path("foreign.json");
    write_file(foreign, R"({"type":"other-vendor","keyslots":["0"]})");
    ASSERT_EQ(run_process({"cryptsetup", "token", "import", "--json-file", foreign, "--token-id", "5", image}).exit_code, 0);
    w = cli({"wipe", image, "--tpm", tpm.tcti(), "--token", "5"});
    EXPECT_EQ(w.exit_code, 1) << show(w);
    EXPECT_TRUE(contains(w.err, "not a cvmunlock one")) << w.err;

    // No key given: token 1, which stays and still unseals, is the way in for wiping token 0.
    w = cli({"wipe", image, "--tpm", tpm.tcti(), "--token", "0"});
    EXPECT_EQ(w.exit_code, 0) << show(w);
    EXPECT_TRUE(contains(w.err, "still opens with token 1, which still unseals")) << w.err;
    EXPECT_EQ(cvmunlock_token_ids(image), std::vector<int>{1});
    EXPECT_EQ(unlock(image).exit_code, 0);

    // Only the passphrase keyslot 0 opens without a cvmunlock token: remove it, and no
    // wipe goes through any more, whatever still unseals.
    ASSERT_EQ(enroll(image, {"--pcrs", "7"}).exit_code, 0);
    ASSERT_EQ(run_process({"cryptsetup", "luksKillSlot", "--batch-mode", image, "0"}).exit_code, 0);
    const std::string before = read_file(image);
    w = cli({"wipe", image, "--tpm", tpm.tcti(), "--token", "1"});
    EXPECT_EQ(w.exit_code, 1) << show(w);
    EXPECT_TRUE(contains(w.err, "no keyslot would be left that opens without a cvmunlock token")) << w.err;
    EXPECT_TRUE(read_file(image) == before);
}

// A recovery keyslot made before recovery keys carried their systemd-recovery
// token gets it when the recovery key is given to enroll as the unlock key.
TEST_F(UnlockSwtpm, EnrollWithARecoveryKeyMarksItsKeyslot) {
    const std::string recovery_file = add_unmarked_recovery_key(image);
    ASSERT_FALSE(HasFailure());
    auto listed = run_process({"systemd-cryptenroll", image});
    EXPECT_FALSE(contains(listed.out, "recovery")) << listed.out;

    auto e = cli({"enroll", image, "--tpm", tpm.tcti(), "--pcrs", "7", "--unlock-key-file", recovery_file, "--json"});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    EXPECT_EQ(parse_json(e.out).value("marked_recovery_keyslot", json()), 1) << e.out;
    listed = run_process({"systemd-cryptenroll", image});
    EXPECT_TRUE(std::regex_search(listed.out, std::regex("\\s1\\s+recovery"))) << listed.out;
}

// --wipe-slot=password with an unmarked recovery key as the unlock key: that
// keyslot is a recovery keyslot (enroll gives it its token), so it stays; the
// passphrase keyslot goes.
TEST_F(UnlockSwtpm, WipeSlotPasswordKeepsTheRecoveryKeyslotItMarks) {
    const std::string recovery_file = add_unmarked_recovery_key(image);
    ASSERT_FALSE(HasFailure());

    auto e = cli({"enroll", image, "--tpm", tpm.tcti(), "--pcrs", "7", "--unlock-key-file", recovery_file,
                  "--wipe-slot=password", "--json"});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    const json j = parse_json(e.out);
    EXPECT_EQ(j.value("marked_recovery_keyslot", json()), 1) << e.out;
    EXPECT_EQ(j.value("wiped_keyslots", json()), json::array({0})) << e.out;
    EXPECT_TRUE(opens(image, recovery_file));
    EXPECT_FALSE(opens(image, key_file));
    const auto listed = run_process({"systemd-cryptenroll", image});
    EXPECT_TRUE(std::regex_search(listed.out, std::regex("\\s1\\s+recovery"))) << listed.out;
}

}  // namespace
}  // namespace cvmunlock::unlock_test
