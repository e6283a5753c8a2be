// PIN-protected tokens (PolicyAuthValue): right, wrong and missing PINs, the
// vTPM's dictionary-attack lockout (every try the vTPM would take is the
// user's; in lockout none is made, and the refusal says what to do), and no
// PIN asked for a token whose PCRs already changed.
#include "unlock_fixture.hpp"

namespace cvmunlock::unlock_test {
namespace {

class UnlockPin : public UnlockSwtpm {
protected:
    void SetUp() override {
        UnlockSwtpm::SetUp();
        if (HasFatalFailure()) return;
        pin_file = path("pin");
        wrong_pin_file = path("wrong-pin");
        write_file(pin_file, "1234");
        write_file(wrong_pin_file, "1235");
    }
    std::string pin_file, wrong_pin_file;
};

TEST_F(UnlockPin, RightWrongAndMissingPinThenLockoutExplained) {
    // Small, known dictionary-attack parameters (empty lockout authorization on a fresh swtpm).
    auto da = tpm2({"tpm2_dictionarylockout", "--setup-parameters", "--max-tries=3", "--recovery-time=600",
                    "--lockout-recovery-time=600"});
    ASSERT_EQ(da.exit_code, 0) << show(da);
    ASSERT_EQ(tpm_property("TPM2_PT_MAX_AUTH_FAIL"), 3);
    ASSERT_EQ(tpm_property("TPM2_PT_LOCKOUT_COUNTER"), 0);

    auto e = enroll(image, {"--pcrs", "7", "--pin-file", pin_file});
    ASSERT_EQ(e.exit_code, 0) << show(e);

    auto r = unlock(image, {"--pin-file", pin_file});
    EXPECT_EQ(r.exit_code, 0) << show(r);
    write_file(path("pin-with-newline"), "1234\n");  // a PIN file ends at its first newline
    r = unlock(image, {"--pin-file", path("pin-with-newline")});
    EXPECT_EQ(r.exit_code, 0) << show(r);
    EXPECT_EQ(tpm_property("TPM2_PT_LOCKOUT_COUNTER"), 0);

    r = unlock(image, {"--pin-file", wrong_pin_file});
    EXPECT_EQ(r.exit_code, 1) << show(r);
    EXPECT_TRUE(contains(r.err, "wrong PIN")) << r.err;
    EXPECT_TRUE(contains(r.err, "tries left")) << r.err;
    EXPECT_EQ(tpm_property("TPM2_PT_LOCKOUT_COUNTER"), 1);  // the TPM really judged it

    // No PIN and no terminal to ask on: a clean refusal, not a hang (timeout's 124)
    // and not a TPM try. setsid detaches from any controlling terminal.
    r = run_process({"timeout", "30", "setsid", "-w", CVMUNLOCK_CLI, "unlock", "--test", "--tpm", tpm.tcti(), image});
    EXPECT_EQ(r.exit_code, 1) << show(r);
    EXPECT_TRUE(contains(r.err, "PIN")) << r.err;
    EXPECT_EQ(tpm_property("TPM2_PT_LOCKOUT_COUNTER"), 1);

    r = unlock(image, {"--pin-file", wrong_pin_file});
    EXPECT_EQ(r.exit_code, 1) << show(r);
    EXPECT_EQ(tpm_property("TPM2_PT_LOCKOUT_COUNTER"), 2);

    // One failure away from lockout the vTPM still takes a try: the right PIN
    // opens (a success does not count), a wrong one is the vTPM's to judge.
    r = unlock(image, {"--pin-file", pin_file});
    EXPECT_EQ(r.exit_code, 0) << "the right PIN was held back while the vTPM would take it: " << show(r);
    EXPECT_EQ(tpm_property("TPM2_PT_LOCKOUT_COUNTER"), 2);
    r = unlock(image, {"--pin-file", wrong_pin_file});
    EXPECT_EQ(r.exit_code, 1) << show(r);
    EXPECT_TRUE(contains(r.err, "wrong PIN")) << r.err;
    EXPECT_EQ(tpm_property("TPM2_PT_LOCKOUT_COUNTER"), tpm_property("TPM2_PT_MAX_AUTH_FAIL"));

    // In lockout the vTPM takes no PIN at all: nothing is tried, the right PIN
    // included, and the refusal says what to do.
    for (const auto& file : {wrong_pin_file, pin_file}) {
        r = unlock(image, {"--pin-file", file});
        EXPECT_EQ(r.exit_code, 1) << show(r);
        EXPECT_TRUE(contains(r.err, "lockout")) << r.err;
        EXPECT_TRUE(contains(r.err, "tpm2_dictionarylockout")) << r.err;
        EXPECT_TRUE(contains(r.err, "recovery key")) << r.err;
        EXPECT_EQ(tpm_property("TPM2_PT_LOCKOUT_COUNTER"), tpm_property("TPM2_PT_MAX_AUTH_FAIL"));
    }
}

// The PIN is enforced by the TPM, not only by the CLI: tpm2-tools cannot unseal
// the object with the PCR policy alone.
TEST_F(UnlockPin, TpmRefusesTheObjectWithoutThePin) {
    ASSERT_EQ(enroll(image, {"--pcrs", "7", "--pin-file", pin_file}).exit_code, 0);
    EXPECT_EQ(unseal_with_tpm2_tools(image, 0), "");
    EXPECT_TRUE(contains(peer_error, "tpm2_unseal")) << peer_error;   // loading worked, unsealing did not
    EXPECT_EQ(unlock(image, {"--pin-file", pin_file}).exit_code, 0);  // and the right PIN still works
}

// For a PIN token whose PCRs changed, the refusal names the PCR and never
// blames the PIN: the PCRs are checked before the PIN is asked for or tried.
TEST_F(UnlockPin, PcrChangeOnAPinTokenIsNamedAndNotBlamedOnThePin) {
    ASSERT_EQ(enroll(image, {"--pcrs", "7", "--pin-file", pin_file, "--lock-pcr", "none"}).exit_code, 0);
    extend_pcr(7, "sha256", std::string(64, 'a'));
    auto r = unlock(image, {"--pin-file", pin_file, "--json"});
    EXPECT_EQ(r.exit_code, 1) << show(r);
    EXPECT_EQ(tpm_property("TPM2_PT_LOCKOUT_COUNTER"), 0);
    EXPECT_FALSE(contains(r.err, "tries left")) << r.err;
    const json j = parse_json(r.out);
    ASSERT_TRUE(j.is_object()) << r.out;
    ASSERT_EQ(j["changed_pcrs"].size(), 1u) << j.dump(2);
    EXPECT_EQ(j["changed_pcrs"][0]["pcr"], 7);
}

// Two tokens, one with a PIN, both sealed to PCR 7, which then changed: the
// refusal is the PCR change (the most relevant), not "this token needs a
// PIN", and no PIN is asked for (there is no terminal: asking would fail).
TEST_F(UnlockPin, SeveralTokensReportTheMostRelevantRefusalAndAskNoPinInVain) {
    ASSERT_EQ(enroll(image, {"--pcrs", "7"}).exit_code, 0);
    ASSERT_EQ(enroll(image, {"--pcrs", "7", "--pin-file", pin_file}).exit_code, 0);
    extend_pcr(7, "sha256", std::string(64, 'a'));
    auto r = run_process({"setsid", "-w", CVMUNLOCK_CLI, "unlock", "--test", "--json", "--tpm", tpm.tcti(), image});
    EXPECT_EQ(r.exit_code, 1) << show(r);
    const json j = parse_json(r.out);
    ASSERT_TRUE(j.is_object()) << r.out;
    EXPECT_EQ(j["error"].value("code", ""), "pcr-changed") << j.dump(2);
    ASSERT_EQ(j["changed_pcrs"].size(), 1u) << j.dump(2);
    EXPECT_EQ(j["changed_pcrs"][0]["pcr"], 7);
    ASSERT_EQ(j["tried"].size(), 1u) << j.dump(2);
    EXPECT_TRUE(contains(j["tried"][0].get<std::string>(), "PCR 7")) << j.dump(2);
    EXPECT_FALSE(contains(r.err, "needs a PIN")) << r.err;
    EXPECT_FALSE(contains(r.err, "terminal")) << "a PIN was asked for: " << r.err;
    EXPECT_EQ(tpm_property("TPM2_PT_LOCKOUT_COUNTER"), 0);
}

}  // namespace
}  // namespace cvmunlock::unlock_test
