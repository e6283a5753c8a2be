// Volumes enrolled by the first release with token version 1 still unlock:
// tests/data/golden/v1 holds two LUKS2 images (one with a PIN token) enrolled
// then against a fresh swtpm, and that swtpm's state (make_v1.sh). A change to
// the token JSON, the sealed bytes, the volume-key pin, the policy or the
// authValue that would strand enrolled volumes fails here. A deliberate format
// change bumps the token version and keeps these unlocking.
#include <fstream>

#include "temp_dir.hpp"
#include "unlock_fixture.hpp"

namespace cvmunlock::unlock_test {
namespace {

const std::string kGolden = std::string(CVMUNLOCK_TEST_DATA) + "/golden/v1";

class GoldenV1 : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(tpm.ok()) << tpm.error();
        ASSERT_TRUE(!dir.path().empty());
    }
    // The image NAME.img.gz, unpacked into the temp dir.
    std::string image(const std::string& name) {
        const auto r = run_process({"gzip", "-dc", kGolden + "/" + name + ".img.gz"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return dir.write(name + ".img", r.out);
    }
    ProcessResult unlock(const std::string& img, std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {CVMUNLOCK_CLI, "unlock", "--test", "--tpm", tpm.tcti(), "--json", img};
        args.insert(args.end(), extra.begin(), extra.end());
        return run_process(args);
    }
    testing::Swtpm tpm{kGolden + "/tpm-state"};
    testing::TempDir dir;
};

TEST_F(GoldenV1, EnrolledVolumeStillUnlocks) {
    const std::string img = image("plain");
    const auto r = unlock(img);
    EXPECT_EQ(r.exit_code, 0) << show(r);
    const json j = parse_json(r.out);
    EXPECT_EQ(j.value("token", json()), 0) << r.out;
    EXPECT_EQ(j.value("keyslot", json()), 1) << r.out;
    // What it unsealed opens the keyslot for stock cryptsetup too (the pin matched the volume key).
    EXPECT_EQ(run_process({"cryptsetup", "open", "--test-passphrase", "--key-file", kGolden + "/passphrase", img}).exit_code, 0);
}

TEST_F(GoldenV1, EnrolledPinVolumeStillUnlocksWithItsPinOnly) {
    const std::string img = image("pin");
    auto r = unlock(img, {"--pin-file", kGolden + "/pin"});
    EXPECT_EQ(r.exit_code, 0) << show(r);
    const std::string wrong = dir.write("wrong-pin", "9999");
    r = unlock(img, {"--pin-file", wrong});
    EXPECT_EQ(r.exit_code, 1) << show(r);
    EXPECT_EQ(parse_json(r.out)["error"].value("code", ""), "pin-wrong") << r.out;
}

// The golden token JSON (tests/data/golden/token-v1.json) is the one in the image.
TEST_F(GoldenV1, TheCommittedTokenIsTheImagesToken) {
    const auto r = run_process({"cryptsetup", "token", "export", "--token-id", "0", image("plain")});
    ASSERT_EQ(r.exit_code, 0) << show(r);
    const json token = parse_json(r.out);
    std::ifstream in(std::string(CVMUNLOCK_TEST_DATA) + "/golden/token-v1.json");
    EXPECT_EQ(token, json::parse(in));
}

}  // namespace
}  // namespace cvmunlock::unlock_test
