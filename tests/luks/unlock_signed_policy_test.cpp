// enroll --policy-key and sign-policy against swtpm: the sealed object's
// policy is PolicyAuthorize by an RSA key; a boot whose PCR values the key
// signed unseals (after an update too), one it did not sign is refused, and
// a signature over other values, or by another key, is refused by the vTPM.
#include "unlock_fixture.hpp"

namespace cvmunlock::unlock_test {
namespace {

class SignedPolicy : public UnlockSwtpm {
protected:
    void SetUp() override {
        UnlockSwtpm::SetUp();
        for (const char* who : {"vendor", "other"}) {
            ASSERT_EQ(run_process({"openssl", "genrsa", "-out", path(std::string(who) + ".key"), "2048"}).exit_code, 0);
            ASSERT_EQ(run_process({"openssl", "rsa", "-in", path(std::string(who) + ".key"), "-pubout", "-out",
                                   path(std::string(who) + ".pub")}).exit_code, 0);
        }
        std::filesystem::create_directories(path("sigs"));
    }
    ProcessResult sign(const std::string& key, const std::string& pcr7, const std::string& out) {
        return cli({"sign-policy", "--private-key", path(key + ".key"), "--pcrs", "7", "--pcr-value",
                    "7:sha256=" + pcr7, "--output", out});
    }
    ProcessResult unlock_signed(const std::vector<std::string>& extra = {}) {
        std::vector<std::string> args = {"--policy-signature", path("sigs"), "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        return unlock(image, args);
    }
};

TEST_F(SignedPolicy, ASignedBootUnlocksAndAnUpdateNeedsOnlyANewSignature) {
    auto e = enroll(image, {"--pcrs", "7", "--policy-key", path("vendor.pub")});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    const json token = exported_token(image, 0);
    ASSERT_TRUE(token.contains("policy_key")) << token.dump(2);
    // Without a signature for this boot: refused, saying so.
    auto r = unlock_signed();
    EXPECT_EQ(r.exit_code, 1) << show(r);
    EXPECT_TRUE(contains(r.err, "no policy signature of the token's key admits this boot's PCR values")) << r.err;
    ASSERT_EQ(sign("vendor", pcr_value(7), path("sigs/boot-1.json")).exit_code, 0);
    r = unlock_signed();
    EXPECT_EQ(r.exit_code, 0) << show(r);
    const json ok = parse_json(r.out);
    const auto codes = ok["tpm_command_codes"].dump();
    EXPECT_TRUE(contains(codes, "TPM2_CC_VerifySignature") && contains(codes, "TPM2_CC_PolicyAuthorize")) << codes;

    // An update changes PCR 7: the old signature does not admit it, a new one does.
    extend_pcr(7, "sha256", std::string(64, 'a'));
    r = unlock_signed();
    EXPECT_EQ(r.exit_code, 1) << show(r);
    ASSERT_EQ(sign("vendor", pcr_value(7), path("sigs/boot-2.json")).exit_code, 0);
    r = unlock_signed();
    EXPECT_EQ(r.exit_code, 0) << show(r);
    EXPECT_EQ(exported_token(image, 0), token) << "nothing was re-sealed or rewritten";
}

TEST_F(SignedPolicy, ASignatureOverOtherValuesOrByAnotherKeyIsRefusedByTheVtpm) {
    ASSERT_EQ(enroll(image, {"--pcrs", "7", "--policy-key", path("vendor.pub")}).exit_code, 0);
    const std::string now = pcr_value(7);
    std::string other = now;
    other[0] = other[0] == '0' ? '1' : '0';
    // Signed for other values, then edited to claim this boot's: the vTPM checks the signature.
    ASSERT_EQ(sign("vendor", other, path("sigs/edited.json")).exit_code, 0);
    json edited = json::parse(read_file(path("sigs/edited.json")));
    edited["pcrs"]["7"] = now;
    write_file(path("sigs/edited.json"), edited.dump());
    auto r = unlock_signed();
    EXPECT_EQ(r.exit_code, 1) << show(r);
    EXPECT_TRUE(contains(r.err, "the vTPM refused the policy signature")) << r.err;
    // Another key's signature of this boot names another key: not a candidate at all.
    std::filesystem::remove(path("sigs/edited.json"));
    ASSERT_EQ(sign("other", now, path("sigs/other.json")).exit_code, 0);
    r = unlock_signed();
    EXPECT_EQ(r.exit_code, 1) << show(r);
    EXPECT_TRUE(contains(r.err, "0 signature(s) of that key")) << r.err;
    // The other key's signature with the token's key name written in: the vTPM refuses it.
    json forged = json::parse(read_file(path("sigs/other.json")));
    forged["key_name"] = exported_token(image, 0)["policy_key"]["name"];
    write_file(path("sigs/other.json"), forged.dump());
    r = unlock_signed();
    EXPECT_EQ(r.exit_code, 1) << show(r);
    EXPECT_TRUE(contains(r.err, "the vTPM refused the policy signature")) << r.err;
    // The host swapping the token's key for its own: the object's policy names the enrolled key.
    json token = exported_token(image, 0);
    auto pub = cli({"sign-policy", "--private-key", path("other.key"), "--pcrs", "7", "--pcr-value", "7:sha256=" + now});
    ASSERT_EQ(pub.exit_code, 0) << show(pub);
    token["policy_key"]["name"] = parse_json(pub.out)["key_name"];
    replace_token(image, 0, token);
    r = unlock_signed();
    EXPECT_NE(r.exit_code, 0) << show(r);
    EXPECT_TRUE(opens(image, key_file)) << "the passphrase still opens";
}

// A --pcr-value for a PCR outside --pcrs is a usage error wherever it comes,
// never silently signed or dropped.
TEST_F(SignedPolicy, APcrValueOutsideThePcrsIsAUsageError) {
    const std::string zero(64, '0');
    for (const auto& order : {std::vector<std::string>{"7:sha256=" + zero, "4:sha256=" + zero},
                              std::vector<std::string>{"4:sha256=" + zero, "7:sha256=" + zero}}) {
        auto r = cli({"sign-policy", "--private-key", path("vendor.key"), "--pcrs", "7", "--pcr-value", order[0],
                      "--pcr-value", order[1]});
        EXPECT_EQ(r.exit_code, 2) << show(r);
        EXPECT_TRUE(contains(r.err, "\"4:sha256=")) << r.err;
    }
}

}  // namespace
}  // namespace cvmunlock::unlock_test
