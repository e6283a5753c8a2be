// The cvmunlock token: strict parsing (it comes from a host-writable header)
// and the sealed-secret helpers.
#include <gtest/gtest.h>

#include <set>

#include "cvmunlock/sealed_secret.hpp"
#include "cvmunlock/token.hpp"

namespace cvmunlock {
namespace {

using nlohmann::json;

json good_token() {
    CvmToken t;
    t.keyslot = 1;
    t.pcrs = {0, 7};
    t.lock_pcr = 15;
    t.pcr_values = {{0, Bytes(32, 1)}, {7, Bytes(32, 7)}, {15, Bytes(32, 0)}};
    t.policy_digest = Bytes(32, 0xaa);
    t.srk_name = Bytes(34, 0x0b);
    t.tpm_public = Bytes(90, 2);
    t.tpm_private = Bytes(160, 3);
    t.events[7] = {Bytes(8, 9)};
    return token_to_json(t);
}

TEST(Token, RoundTrips) {
    const json j = good_token();
    auto t = token_from_json(j.dump());
    ASSERT_TRUE(t.has_value()) << t.error().message;
    EXPECT_EQ(token_to_json(*t), j);
    EXPECT_LT(j.dump().size(), 1200u);  // the LUKS2 JSON area is ~12 KiB for everything
}

TEST(Token, RejectsEachBrokenFieldByName) {
    const struct {
        const char* field;
        json value;
    } cases[] = {
        {"type", "systemd-tpm2"},      {"version", 2},           {"keyslots", json::array({"1", "2"})},
        {"keyslots", json::array({"x"})}, {"pcr_bank", "sha1"},  {"pcrs", json::array({7, 0})},
        {"pcrs", json::array({24})},   {"lock_pcr", 7},          {"pcr_values", json{{"7", "00"}}},
        {"policy", "abcd"},            {"srk_name", 5},          {"tpm_public", "!!!!"},
        {"tpm_private", ""},           {"pin", json{{"kdf", "md5"}}}, {"events", json{{"7", json::array({"00"})}}},
        {"surprise", 1},           {"type", 1},              {"pin", json{{"kdf", 5}}},
        // 2^32 + 1: read as an int it would be 1, the supported version.
        {"version", 4294967297ULL}, {"version", -1},        {"version", 1.0},
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
