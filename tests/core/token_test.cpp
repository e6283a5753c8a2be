// The cvmunlock token: strict parsing (it comes from a host-writable header)
// and the sealed-secret helpers.
#include <gtest/gtest.h>

#include <set>

#include "cvmunlock/sealed_secret.hpp"
#include "cvmunlock/token.hpp"
#include "cvmunlock/token_policy.hpp"
#include "test_data.hpp"

namespace cvmunlock {
namespace {

using nlohmann::json;

// A real token, as enroll wrote it (tests/data/golden/token-v1.json, exported
// from the golden image): the expectations below are that text, never what
// the code under test writes.
json good_token() {
    const Bytes raw = testing::read_data("golden/token-v1.json");
    return json::parse(std::string(raw.begin(), raw.end()));
}

TEST(Token, ParsesTheEnrolledTokenAndWritesItBackUnchanged) {
    const json j = good_token();
    auto t = token_from_json(j.dump());
    ASSERT_TRUE(t.has_value()) << t.error().message;
    EXPECT_EQ(t->keyslot, 1);
    EXPECT_EQ(t->pcr_bank, HashAlg::Sha256);
    EXPECT_EQ(t->pcrs, std::vector<std::uint32_t>{7});
    EXPECT_EQ(t->lock_pcr, 15u);
    EXPECT_EQ(to_hex(t->pcr_values.at(7)), std::string(64, '0'));
    EXPECT_EQ(to_hex(t->policy_digest), "f62d13a8dfa1a3dca5b7f16214692abd321889814e17d52ab9e830623eb8f15d");
    EXPECT_EQ(to_hex(t->srk_name), "000bccd4fa9a216841fdb63e5da811b04065ed7b0a407d92616f40761cc4b66f2d84");
    EXPECT_EQ(t->tpm_public.size(), 80u);
    EXPECT_FALSE(t->pin.has_value());
    EXPECT_FALSE(t->snp.has_value());
    EXPECT_EQ(token_to_json(*t), j);  // nothing dropped or added on the way back
    EXPECT_LT(j.dump().size(), 1200u);  // the LUKS2 JSON area is ~12 KiB for everything
}

TEST(Token, RejectsEachBrokenFieldByName) {
    const struct {
        const char* field;
        json value;
    } cases[] = {
        {"type", "systemd-tpm2"},      {"version", 3},           {"keyslots", json::array({"1", "2"})},
        {"keyslots", json::array({"x"})}, {"pcr_bank", "sha1"},  {"pcrs", json::array({7, 0})},
        {"pcrs", json::array({24})},   {"lock_pcr", 7},          {"pcr_values", json{{"7", "00"}}},
        {"policy", "abcd"},            {"srk_name", 5},          {"tpm_public", "!!!!"},
        {"tpm_private", ""},           {"pin", json{{"kdf", "md5"}}}, {"events", json{{"7", json::array({"00"})}}},
        {"surprise", 1},           {"type", 1},              {"pin", json{{"kdf", 5}}},
        // 2^32 + 1 and + 2: read as an int they would be 1 and 2, the supported versions.
        {"version", 4294967297ULL}, {"version", 4294967298ULL}, {"version", 0}, {"version", -1}, {"version", 1.0},
    };
    for (const auto& c : cases) {
        json j = good_token();
        j[c.field] = c.value;
        auto t = token_from_json(j.dump());
        ASSERT_FALSE(t.has_value()) << c.field << " = " << c.value.dump();
        EXPECT_EQ(t.error().code, ErrorCode::InvalidInput);
        EXPECT_NE(t.error().message.find(c.field), std::string::npos) << t.error().message;
    }
    EXPECT_FALSE(token_from_json(std::string_view("{")).has_value());
    EXPECT_FALSE(token_from_json(std::string_view("[]")).has_value());
}

// A token of `enroll --nv-policy` (tests/data/golden/token-v1-nv-policy.json,
// exported with stock cryptsetup from a volume that then unlocked on swtpm):
// its policy is PolicyAuthorizeNV on the index's name, and its one branch gives
// the digest that swtpm's index held (read with tpm2_nvread).
TEST(Token, NvPolicyTokenGivesTheSealedPolicyAndTheIndexContent) {
    const Bytes raw = testing::read_data("golden/token-v1-nv-policy.json");
    const json j = json::parse(std::string(raw.begin(), raw.end()));
    auto t = token_from_json(j.dump());
    ASSERT_TRUE(t.has_value()) << t.error().message;
    ASSERT_TRUE(t->nv_policy.has_value());
    EXPECT_EQ(t->nv_policy->index, 0x01300001u);
    EXPECT_EQ(t->nv_policy->branches.size(), 1u);
    EXPECT_EQ(token_to_json(*t), j);
    auto sealed = sealed_object_policy(*t);
    ASSERT_TRUE(sealed.has_value());
    EXPECT_EQ(*sealed, t->policy_digest);
    auto held = authorized_policy(t->pcr_bank, t->nv_policy->branches);
    ASSERT_TRUE(held.has_value());
    EXPECT_EQ(to_hex(*held), "d61236e2b73ea6f76407cff6bfd768a61142204af3e1a4df4cb76f6f27fd6a14");

    // Each broken piece is named.
    const struct {
        const char* where;
        json value;
    } cases[] = {
        {"nv_policy.index", 0x81000001u},
        {"nv_policy.name", "00"},
        {"nv_policy.branches", json::array()},
        {"nv_policy.branches", json::array({json{{"7", std::string(64, '0')}}})},  // no lock PCR value
        {"nv_policy.branches.4", json::array({json{{"7", std::string(64, '0')}, {"15", std::string(64, '0')},
                                                   {"4", std::string(64, '0')}}})},  // not a policy PCR
        {"nv_policy.surprise", 1},
    };
    for (const auto& c : cases) {
        json broken = j;
        const std::string key = std::string(c.where).substr(std::string("nv_policy.").size());
        broken["nv_policy"][key.substr(0, key.find('.'))] = c.value;
        auto b = token_from_json(broken.dump());
        ASSERT_FALSE(b.has_value()) << c.where << " = " << c.value.dump();
        EXPECT_NE(b.error().message.find(c.where), std::string::npos) << b.error().message;
    }
    json nine = j;
    for (int i = 0; i < 8; ++i) nine["nv_policy"]["branches"].push_back(j["nv_policy"]["branches"][0]);
    EXPECT_FALSE(token_from_json(nine.dump()).has_value()) << "PolicyOR takes at most 8 branches";
}

TEST(Token, Base64IsCanonical) {
    const Bytes data{0, 1, 2, 250, 251};
    EXPECT_EQ(base64_decode(base64_encode(data)), data);
    EXPECT_FALSE(base64_decode("AAE=x").has_value());
    EXPECT_FALSE(base64_decode("AAF=").has_value());  // non-canonical padding bits
}

TEST(SealedSecret, SplitGivesPassphraseAndPin) {
    SecretBuffer secret = SecretBuffer::copy_of(Bytes(32, 0x41));
    SecretBuffer vk = SecretBuffer::copy_of(Bytes(64, 0x11));
    const Bytes pin = volume_key_pin("0f1e2d3c-uuid", vk);
    ASSERT_EQ(pin.size(), kPinSize);
    auto parts = split_sealed_data(make_sealed_data(secret, pin));
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->pin, pin);
    EXPECT_TRUE(parts->passphrase.equals(ByteView(reinterpret_cast<const std::uint8_t*>(
        "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="), 44)));
    EXPECT_TRUE(volume_key_matches("0f1e2d3c-uuid", vk, pin));
    EXPECT_FALSE(volume_key_matches("another-uuid", vk, pin));
    SecretBuffer other = SecretBuffer::copy_of(Bytes(64, 0x12));
    EXPECT_FALSE(volume_key_matches("0f1e2d3c-uuid", other, pin));
    EXPECT_FALSE(split_sealed_data(secret).has_value());  // wrong size: refused
}

TEST(SealedSecret, RecoveryKeysAreModhexGroupsAndDiffer) {
    std::set<std::string> seen;
    for (int i = 0; i < 20; ++i) {
        auto k = make_recovery_key();
        ASSERT_TRUE(k.has_value());
        const std::string s(reinterpret_cast<const char*>(k->secret_bytes()), k->size());
        ASSERT_EQ(s.size(), 71u);
        for (std::size_t j = 0; j < s.size(); ++j) {
            if (j % 9 == 8) {
                EXPECT_EQ(s[j], '-');
            } else {
                EXPECT_NE(std::string("cbdefghijklnrtuv").find(s[j]), std::string::npos) << s;
            }
        }
        seen.insert(s);
    }
    EXPECT_EQ(seen.size(), 20u);
}

TEST(SealedSecret, PinKdfDependsOnSaltAndPin) {
    SecretBuffer pin = SecretBuffer::copy_of(Bytes{'1', '2', '3', '4'});
    auto a = pin_auth_value(pin, Bytes(16, 1), 1000);
    auto b = pin_auth_value(pin, Bytes(16, 2), 1000);
    ASSERT_TRUE(a && b);
    EXPECT_FALSE(a->equals(b->secret_view()));
    // RFC 6070-style known answer, PBKDF2-HMAC-SHA256("password", "salt", 1) (RFC 7914 section 11).
    SecretBuffer pw = SecretBuffer::copy_of(Bytes{'p', 'a', 's', 's', 'w', 'o', 'r', 'd'});
    auto kat = pin_auth_value(pw, Bytes{'s', 'a', 'l', 't'}, 1);
    ASSERT_TRUE(kat.has_value());
    EXPECT_EQ(to_hex(kat->secret_view()), "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
}

}  // namespace
}  // namespace cvmunlock
