// What cvmunlock seals and stores must not change under a refactor: enrolled
// volumes would no longer unlock. tests/data/golden/formulas.json holds the
// expected bytes, computed once by make_formulas.py from the formulas in
// docs/token-format.md (and TPM 2.0 Part 3 for the policy digests), apart
// from this code; tests/luks/golden_test.cpp unlocks volumes enrolled then.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cvmunlock/sealed_secret.hpp"
#include "cvmunlock/tpm_policy.hpp"
#include "cvmunlock/token.hpp"
#include "test_data.hpp"

namespace cvmunlock {
namespace {

using nlohmann::json;

class GoldenFormulas : public ::testing::Test {
protected:
    void SetUp() override {
        const Bytes raw = testing::read_data("golden/formulas.json");
        golden = json::parse(std::string(raw.begin(), raw.end()));
        const json& in = golden["inputs"];
        uuid = in["uuid"].get<std::string>();
        vk = SecretBuffer::copy_of(*from_hex(in["volume_key"].get<std::string>()));
    }
    std::string expected(const char* name) const { return golden[name].get<std::string>(); }
    Bytes requirements() const {
        const std::string r = expected("requirements");
        return Bytes(r.begin(), r.end());
    }
    json golden;
    std::string uuid;
    SecretBuffer vk;
};

TEST_F(GoldenFormulas, VolumeKeyPin) {
    EXPECT_EQ(to_hex(volume_key_pin(uuid, vk)), expected("volume_key_pin"));
    EXPECT_EQ(to_hex(volume_key_pin(uuid, vk, requirements())), expected("volume_key_pin_with_requirements"));
}

TEST_F(GoldenFormulas, TokenRequirementsAreTheCanonicalSnpObject) {
    CvmToken t;
    const json& snp = golden["inputs"]["snp"];
    auto kind = snp::evidence_kind_from_name(snp["evidence"].get<std::string>());
    auto policy = snp::policy_from_json(snp["policy"]);
    ASSERT_TRUE(kind && policy);
    t.snp = SnpRequirement{*kind, *policy, {}};
    const Bytes r = token_requirements(t);
    EXPECT_EQ(std::string(r.begin(), r.end()), expected("requirements"));
    EXPECT_TRUE(token_requirements(CvmToken{}).empty()) << "tokens without snp keep the pin without suffix";
}

TEST_F(GoldenFormulas, AuthValues) {
    const json& in = golden["inputs"];
    const std::string pin_text = in["pin"].get<std::string>();
    auto base = pin_auth_value(SecretBuffer::copy_of(ByteView(reinterpret_cast<const std::uint8_t*>(pin_text.data()),
                                                              pin_text.size())),
                               *from_hex(in["pin_salt"].get<std::string>()), in["pin_iterations"].get<std::uint32_t>());
    ASSERT_TRUE(base);
    EXPECT_EQ(to_hex(base->secret_view()), expected("pin_auth_value"));
    auto none = requirements_auth_value(SecretBuffer(), requirements());
    ASSERT_TRUE(none);
    EXPECT_EQ(to_hex(none->secret_view()), expected("requirements_auth_value_no_pin"));
    auto with_pin = requirements_auth_value(*base, requirements());
    ASSERT_TRUE(with_pin);
    EXPECT_EQ(to_hex(with_pin->secret_view()), expected("requirements_auth_value_pin"));
    auto unchanged = requirements_auth_value(*base, {});
    ASSERT_TRUE(unchanged);
    EXPECT_EQ(to_hex(unchanged->secret_view()), expected("pin_auth_value"));
}

TEST_F(GoldenFormulas, SealedDataLayoutAndPassphrase) {
    const SecretBuffer secret = SecretBuffer::copy_of(*from_hex(golden["inputs"]["secret"].get<std::string>()));
    const Bytes pin = volume_key_pin(uuid, vk);
    const SecretBuffer sealed = make_sealed_data(secret, pin);
    ASSERT_EQ(sealed.size(), 64u);
    EXPECT_EQ(to_hex(sealed.secret_view()), golden["inputs"]["secret"].get<std::string>() + expected("volume_key_pin"));
    auto parts = split_sealed_data(sealed);
    ASSERT_TRUE(parts);
    const ByteView p = parts->passphrase.secret_view();
    EXPECT_EQ(std::string(p.begin(), p.end()), expected("passphrase"));
    EXPECT_EQ(to_hex(parts->pin), expected("volume_key_pin"));
}

TEST_F(GoldenFormulas, PolicyDigests) {
    std::map<std::uint32_t, Bytes> values;
    for (const auto& [pcr, hex] : golden["inputs"]["pcr_values"].items()) values[static_cast<std::uint32_t>(std::stoul(pcr))] = *from_hex(hex.get<std::string>());
    auto pcr = policy_pcr(HashAlg::Sha256, policy_initial(HashAlg::Sha256), {{HashAlg::Sha256, values}});
    ASSERT_TRUE(pcr);
    EXPECT_EQ(to_hex(*pcr), expected("policy_pcr_7_15"));
    auto auth = policy_auth_value(HashAlg::Sha256, *pcr);
    ASSERT_TRUE(auth);
    EXPECT_EQ(to_hex(*auth), expected("policy_pcr_7_15_auth_value"));
}

}  // namespace
}  // namespace cvmunlock
