// The unseal's answer must come from the vTPM that holds the enrolled SRK:
// the unlock salts its policy session to that key and checks the HMAC of the
// TPM2_Unseal response before it decrypts the data. A real swtpm behind a
// proxy that flips one bit of that answer (in its data, nonce, attributes or
// HMAC) must give a named refusal and no key; the same proxy unaltered unlocks.
#include "tpm_proxy.hpp"
#include "unlock_fixture.hpp"

namespace cvmunlock::unlock_test {
namespace {

using testing::StallingTpmProxy;

constexpr std::uint32_t kUnseal = 0x15E;  // TPM_CC_Unseal
// The end of a TPM2_Unseal response with one session (TPM 2.0 Part 1, 18.10):
// ... outData | nonceTPM (2 + 32) | sessionAttributes (1) | hmac (2 + 32).
constexpr std::size_t kHmacEnd = 0;
constexpr std::size_t kAttributes = 34;
constexpr std::size_t kNonceEnd = 35;
constexpr std::size_t kDataEnd = 35 + 34;

class UnlockAnswer : public UnlockSwtpm {};

TEST_F(UnlockAnswer, UnalteredAnswersThroughTheProxyUnlock) {
    ASSERT_EQ(enroll(image, {"--pcrs", "7"}).exit_code, 0);
    StallingTpmProxy proxy(testing::tcti_port(tpm.tcti()), 0);
    ASSERT_TRUE(proxy.ok());
    const ProcessResult r = unlock(image, {"--json"}, proxy.tcti());
    EXPECT_EQ(r.exit_code, 0) << show(r);
    EXPECT_EQ(proxy.altered(), 0);
}

TEST_F(UnlockAnswer, AnAlteredUnsealAnswerIsRefusedAsAnotherVtpm) {
    for (const bool persistent : {false, true}) {
        // One token per image: unlock would try a second one after the first refusal.
        const std::string img = make_image(persistent ? "persistent.img" : "transient.img");
        ASSERT_EQ(enroll(img, persistent ? std::vector<std::string>{"--pcrs", "7", "--persist-srk"}
                                           : std::vector<std::string>{"--pcrs", "7"}).exit_code, 0);
        for (const auto& [from_end, what] : std::vector<std::pair<std::size_t, std::string>>{
                 {kHmacEnd, "HMAC"}, {kAttributes, "session attributes"}, {kNonceEnd, "nonceTPM"},
                 {kDataEnd, "encrypted data"}}) {
            SCOPED_TRACE(std::string(persistent ? "persistent" : "transient") + " SRK, altered " + what);
            ProcessResult r;
            int altered = 0;
            {
                StallingTpmProxy proxy(testing::tcti_port(tpm.tcti()), 0);
                ASSERT_TRUE(proxy.ok());
                proxy.alter_response(kUnseal, from_end);
                r = unlock(img, {"--json"}, proxy.tcti());
                altered = proxy.altered();
            }
            EXPECT_EQ(altered, 1);
            EXPECT_EQ(r.exit_code, 1) << show(r);
            const json j = parse_json(r.out);
            EXPECT_EQ(j["ok"], false) << r.out;
            EXPECT_EQ(j["error"]["code"], "srk-mismatch") << r.out;
            EXPECT_TRUE(contains(j["error"].value("message", ""), "the answer to TPM2_Unseal is not the vTPM's")) << r.out;
            // Nothing stays loaded that a later unlock would trip over.
            EXPECT_EQ(unlock(img).exit_code, 0) << "the volume must unlock once the answers are the vTPM's again";
        }
    }
}

}  // namespace
}  // namespace cvmunlock::unlock_test
