// The LUKS2 metadata validator: real cryptsetup headers pass, and each attack
// a host could write into the metadata is refused with a reason naming the field.
#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "cvmunlock/luks2_header.hpp"
#include "luks2_test_image.hpp"

namespace cvmunlock {
namespace {

using nlohmann::json;
using testing::Luks2Workspace;

class Luks2Validate : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!testing::have_cryptsetup()) return;
        ws_ = std::make_unique<Luks2Workspace>();
        ok_ = ws_->format("a") && ws_->format("b") && ws_->format("k256", "--key-size 256") &&
              ws_->format("argon", "--pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 32");
    }
    static void TearDownTestSuite() { ws_.reset(); }
    void SetUp() override {
        // The test command installs cryptsetup: without it these tests fail, they do not skip.
        ASSERT_TRUE(ok_) << "cryptsetup luksFormat failed or is not installed";
    }
    static Luks2Header header(const std::string& name) {
        auto h = parse_luks2_header(ws_->region(name));
        EXPECT_TRUE(h.has_value()) << h.error().message;
        return h.value_or(Luks2Header{});
    }
    static json metadata(const std::string& name) { return header(name).primary.metadata; }

    static inline std::unique_ptr<Luks2Workspace> ws_;
    static inline bool ok_ = false;
};

constexpr const char* kSecondArea = "290816";  // right after keyslot 0's area [32768, +258048)

// Keyslot 1: a copy of keyslot 0 in the next free area, bound to segment 0.
void add_bound_keyslot(json& md) {
    md["keyslots"]["1"] = md["keyslots"]["0"];
    md["keyslots"]["1"]["area"]["offset"] = kSecondArea;
    md["digests"]["0"]["keyslots"].push_back("1");
}

struct Case {
    const char* name;
    std::function<void(json&)> mutate;
    ErrorCode code;
    std::string reason;
    std::optional<int> keyslot = 0;
    Luks2Policy policy = {};
};

constexpr ErrorCode kRefused = ErrorCode::PolicyRefused;
constexpr ErrorCode kMalformed = ErrorCode::InvalidInput;

std::vector<Case> attack_cases() {
    // Sets the field at a JSON pointer ("/segments/0/encryption").
    auto set = [](const char* pointer, json value) {
        return [pointer, value](json& md) { md[json::json_pointer(pointer)] = value; };
    };
    Luks2Policy area32;
    area32.keyslot_area_ciphers = {{"aes-xts-plain64", 32}};
    Luks2Policy null_allowed;
    null_allowed.segment_ciphers = {{"cipher_null-ecb", 64}};
    return {
        // Null ciphers: host-chosen plaintext, or a keyslot any passphrase opens.
        {"null segment", set("/segments/0/encryption", "cipher_null-ecb"), kRefused,
         "segments.0.encryption: \"cipher_null-ecb\" is not allowed"},
        {"null segment, upper case", set("/segments/0/encryption", "CIPHER_NULL"),
         kRefused, "segments.0.encryption: \"CIPHER_NULL\" is not allowed"},
        {"null segment via kernel crypto API",
         set("/segments/0/encryption", "capi:ecb(cipher_null)-plain"), kRefused,
         "segments.0.encryption"},
        {"null segment allowed by policy", set("/segments/0/encryption", "cipher_null-ecb"),
         kRefused, "segments.0.encryption: \"cipher_null-ecb\" is not allowed (null cipher)", 0, null_allowed},
        {"null keyslot area",
         [](json& md) {
             add_bound_keyslot(md);
             md["keyslots"]["1"]["area"]["encryption"] = "cipher_null-ecb";
         },
         kRefused, "keyslots.1.area.encryption: \"cipher_null-ecb\" is not allowed"},
        // Segment shape.
        {"second segment",
         [](json& md) {
             md["segments"]["1"] = md["segments"]["0"];
             md["segments"]["1"]["offset"] = "20971520";
         },
         kRefused, "segments: has 2 segment(s) (\"0\", \"1\"); exactly one"},
        {"segment not named 0",
         [](json& md) {
             md["segments"]["1"] = md["segments"]["0"];
             md["segments"].erase("0");
         },
         kRefused, "segments: has 1 segment(s) (\"1\")"},
        {"linear segment", set("/segments/0/type", "linear"), kRefused,
         "segments.0.type: \"linear\" is not allowed"},
        {"segment offset inside keyslots area", set("/segments/0/offset", "32768"),
         kRefused, "segments.0.offset: 32768 must be a multiple of 4096 at or after 16777216"},
        {"segment offset over the headers", set("/segments/0/offset", "0"), kRefused,
         "segments.0.offset: 0"},
        {"segment offset unaligned", set("/segments/0/offset", "16777728"), kRefused,
         "segments.0.offset: 16777728"},
        {"segment size zero", set("/segments/0/size", "0"), kRefused,
         "segments.0.size"},
        {"segment size unaligned", set("/segments/0/size", "1000"), kRefused,
         "segments.0.size"},
        {"sector size 8192", set("/segments/0/sector_size", 8192), kRefused,
         "segments.0.sector_size: 8192"},
        {"iv_tweak", set("/segments/0/iv_tweak", "1"), kRefused,
         "segments.0.iv_tweak: \"1\" is not \"0\""},
        {"integrity", set("/segments/0/integrity", json::object()), kRefused,
         "segments.0.integrity"},
        {"segment flags", set("/segments/0/flags", json{"backup-previous"}), kRefused,
         "segments.0.flags"},
        {"unlisted cipher", set("/segments/0/encryption", "aes-cbc-essiv:sha256"),
         kRefused, "segments.0.encryption: \"aes-cbc-essiv:sha256\" with a 64-byte volume key is not allowed"},
        // Reencryption and unknown features.
        {"requirements.mandatory",
         [](json& md) { md["config"]["requirements"] = {{"mandatory", {"online-reencrypt-v2"}}}; }, kRefused,
         "config.requirements.mandatory: [\"online-reencrypt-v2\"]"},
        {"reencrypt keyslot",
         [](json& md) {
             add_bound_keyslot(md);
             md["keyslots"]["1"]["type"] = "reencrypt";
         },
         kRefused, "keyslots.1.type: \"reencrypt\": a reencryption is in progress"},
        // Config and layout.
        {"huge json_size", set("/config/json_size", "4294967296"), kRefused,
         "config.json_size: 4294967296 is not"},
        {"odd json_size", set("/config/json_size", "12289"), kRefused,
         "config.json_size: 12289"},
        {"keyslots_size unaligned", set("/config/keyslots_size", "16744449"),
         kRefused, "config.keyslots_size: 16744449"},
        {"keyslots_size too big", set("/config/keyslots_size", "268435456"),
         kRefused, "config.keyslots_size"},
        {"overlapping areas",
         [](json& md) {
             add_bound_keyslot(md);
             md["keyslots"]["1"]["area"]["offset"] = "36864";
         },
         kRefused, "keyslots.1.area: [36864, +258048) overlaps keyslots.0.area [32768, +258048)"},
        {"identical areas",
         [](json& md) {
             add_bound_keyslot(md);
             md["keyslots"]["1"]["area"]["offset"] = "32768";
         },
         kRefused, "overlaps keyslots."},
        {"area over the headers", set("/keyslots/0/area/offset", "16384"), kRefused,
         "keyslots.0.area: [16384, +258048) must be 4096-aligned"},
        {"area past the keyslots area", set("/keyslots/0/area/offset", "16773120"),
         kRefused, "keyslots.0.area: [16773120, +258048)"},
        {"area too small for the AF material", set("/keyslots/0/area/size", "4096"),
         kRefused, "hold the 256000 bytes of AF material"},
        {"area type", set("/keyslots/0/area/type", "datashift"), kRefused,
         "keyslots.0.area.type: \"datashift\""},
        {"unlisted area cipher", set("/keyslots/0/area/encryption", "aes-cbc-plain"),
         kRefused, "keyslots.0.area.encryption: \"aes-cbc-plain\" with a 64-byte key is not allowed"},
        {"area key size differs", set("/keyslots/0/area/key_size", 32), kRefused,
         "keyslots.0.area.key_size: 32 differs from the keyslot's key_size 64", 0, area32},
        {"keyslot key size differs",
         [](json& md) {
             add_bound_keyslot(md);
             md["keyslots"]["1"]["key_size"] = 32;
         },
         kRefused, "keyslots.1.key_size: 32 differs from the volume key size 64"},
        {"kdf pbkdf2-sha1", set("/keyslots/0/kdf/hash", "sha1"), kRefused,
         "keyslots.0.kdf.type: \"pbkdf2-sha1\" is not allowed"},
        {"kdf zero iterations", set("/keyslots/0/kdf/iterations", 0), kRefused,
         "keyslots.0.kdf.iterations: must not be 0"},
        {"af stripes", set("/keyslots/0/af/stripes", 1), kRefused,
         "keyslots.0.af.stripes: 1 is not 4000"},
        {"af hash", set("/keyslots/0/af/hash", "sha1"), kRefused,
         "keyslots.0.af.hash: \"sha1\" is not allowed"},
        {"af type", set("/keyslots/0/af/type", "luks2"), kRefused,
         "keyslots.0.af.type"},
        // Digests and the keyslot-to-segment binding.
        {"digest type", set("/digests/0/type", "argon2"), kRefused,
         "digests.0.type: \"argon2\" is not \"pbkdf2\""},
        {"digest hash", set("/digests/0/hash", "sha1"), kRefused,
         "digests.0.hash: \"sha1\" is not allowed"},
        {"digest not of segment 0", set("/digests/0/segments", json::array()),
         kRefused, "digests.0.segments: must be [\"0\"]"},
        {"digest binds nothing", set("/digests/0/keyslots", json::array()),
         kRefused, "digests.0.keyslots: binds no keyslot"},
        {"digest names a missing keyslot",
         set("/digests/0/keyslots", json{"0", "5"}), kMalformed,
         "digests.0.keyslots: entries must be distinct names of existing keyslots"},
        {"digest names a keyslot twice",
         set("/digests/0/keyslots", json{"0", "0"}), kMalformed,
         "digests.0.keyslots"},
        {"required keyslot missing", [](json&) {}, kRefused, "keyslots.3: the required keyslot does not exist", 3},
        {"negative required keyslot", [](json&) {}, kRefused, "keyslots.-1: the required keyslot does not exist", -1},
        // Types: 64-bit values are decimal strings, the rest JSON integers.
        {"offset as a number", set("/segments/0/offset", 16777216), kMalformed,
         "segments.0.offset: must be a decimal string (64-bit LUKS2 value), not a number"},
        {"area size as a number", set("/keyslots/0/area/size", 258048), kMalformed,
         "keyslots.0.area.size: must be a decimal string"},
        {"json_size as a number", set("/config/json_size", 12288), kMalformed,
         "config.json_size: must be a decimal string"},
        {"leading zero", set("/segments/0/offset", "016777216"), kMalformed,
         "segments.0.offset: \"016777216\" is not a canonical unsigned 64-bit decimal"},
        {"plus sign", set("/segments/0/offset", "+16777216"), kMalformed,
         "segments.0.offset: \"+16777216\""},
        {"negative", set("/keyslots/0/area/offset", "-1"), kMalformed,
         "keyslots.0.area.offset: \"-1\""},
        {"empty string", set("/keyslots/0/area/offset", ""), kMalformed,
         "keyslots.0.area.offset: \"\""},
        {"trailing space", set("/segments/0/offset", "16777216 "), kMalformed,
         "segments.0.offset"},
        {"overflow", set("/segments/0/offset", "18446744073709551616"), kMalformed,
         "segments.0.offset"},
        {"key_size as a string", set("/keyslots/0/key_size", "64"), kMalformed,
         "keyslots.0.key_size: must be a JSON integer"},
        {"key_size as a float", set("/keyslots/0/key_size", 64.0), kMalformed,
         "keyslots.0.key_size: must be a JSON integer in 0..4294967295, not 64.0"},
        {"negative key_size", set("/keyslots/0/key_size", -64), kMalformed,
         "keyslots.0.key_size"},
        {"sector_size as a string", set("/segments/0/sector_size", "4096"), kMalformed,
         "segments.0.sector_size: must be a JSON integer"},
        {"missing area key_size", [](json& m) { m["keyslots"]["0"]["area"].erase("key_size"); }, kMalformed,
         "keyslots.0.area.key_size: missing"},
        {"keyslot id with a leading zero",
         [](json& md) {
             add_bound_keyslot(md);
             md["keyslots"]["01"] = md["keyslots"]["1"];
             md["keyslots"].erase("1");
             md["digests"]["0"]["keyslots"] = {"0"};
         },
         kMalformed, "keyslots.01: keyslot id"},
        {"keyslot id 32", [](json& md) { md["keyslots"]["32"] = md["keyslots"]["0"]; }, kMalformed,
         "keyslots.32: keyslot id is not a decimal below 32"},
        {"no tokens section", [](json& md) { md.erase("tokens"); }, kMalformed, "tokens: missing"},
        {"segments not an object", [](json& md) { md["segments"] = json::array(); }, kMalformed,
         "segments: must be a JSON object"},
        {"not an object", [](json& md) { md = json::array(); }, kMalformed, "metadata: must be a JSON object"},
    };
}

TEST_F(Luks2Validate, CryptsetupDefaultHeaderPasses) {
    const json md = metadata("a");
    for (std::optional<int> keyslot : {std::optional<int>{}, std::optional<int>{0}}) {
        auto v = validate_luks2_metadata(md, {}, keyslot);
        EXPECT_TRUE(v.has_value()) << v.error().message;
    }
    auto v = validate_luks2_header(header("a"), {}, 0);
    EXPECT_TRUE(v.has_value()) << v.error().message;
}

TEST_F(Luks2Validate, AnotherBoundKeyslotPasses) {
    json md = metadata("a");
    add_bound_keyslot(md);
    auto v = validate_luks2_metadata(md, {}, 1);
    EXPECT_TRUE(v.has_value()) << v.error().message;
}

TEST_F(Luks2Validate, Argon2idKeyslotPassesUnlessThePolicyDropsIt) {
    const json md = metadata("argon");
    auto v = validate_luks2_metadata(md, {}, 0);
    EXPECT_TRUE(v.has_value()) << v.error().message;
    Luks2Policy pbkdf2_only;
    pbkdf2_only.keyslot_kdfs = {"pbkdf2-sha256"};
    v = validate_luks2_metadata(md, pbkdf2_only, 0);
    ASSERT_FALSE(v.has_value());
    EXPECT_EQ(v.error().message, "keyslots.0.kdf.type: \"argon2id\" is not allowed");
}

TEST_F(Luks2Validate, Aes256KeysNeedAPolicyThatAllowsThem) {
    const json md = metadata("k256");
    auto v = validate_luks2_metadata(md, {}, 0);
    ASSERT_FALSE(v.has_value());
    EXPECT_EQ(v.error().message, "keyslots.0.area.encryption: \"aes-xts-plain64\" with a 32-byte key is not allowed");
    Luks2Policy aes256;
    aes256.keyslot_area_ciphers = {{"aes-xts-plain64", 32}};
    v = validate_luks2_metadata(md, aes256, 0);
    ASSERT_FALSE(v.has_value());
    EXPECT_EQ(v.error().message,
              "segments.0.encryption: \"aes-xts-plain64\" with a 32-byte volume key is not allowed");
    aes256.segment_ciphers = {{"aes-xts-plain64", 32}};
    v = validate_luks2_metadata(md, aes256, 0);
    EXPECT_TRUE(v.has_value()) << v.error().message;
}

TEST_F(Luks2Validate, EachAttackIsRefusedWithTheFieldNamed) {
    const json original = metadata("a");
    for (const auto& c : attack_cases()) {
        SCOPED_TRACE(c.name);
        json md = original;
        c.mutate(md);
        auto v = validate_luks2_metadata(md, c.policy, c.keyslot);
        ASSERT_FALSE(v.has_value()) << "accepted";
        EXPECT_EQ(v.error().code, c.code) << v.error().message;
        EXPECT_NE(v.error().message.find(c.reason), std::string::npos) << v.error().message;
    }
}

// Volume B's keyslot 0 (opened by the same passphrase) and its digest, copied into
// volume A as keyslot 1: it would unlock B's volume key over A's data area.
TEST_F(Luks2Validate, TransplantedKeyslotAndDigestAreRefused) {
    const json b = metadata("b");
    json md = metadata("a");
    md["keyslots"]["1"] = b["keyslots"]["0"];
    md["keyslots"]["1"]["area"]["offset"] = kSecondArea;
    md["digests"]["1"] = b["digests"]["0"];
    md["digests"]["1"]["keyslots"] = {"1"};
    auto v = validate_luks2_metadata(md, {}, 1);
    ASSERT_FALSE(v.has_value());
    EXPECT_EQ(v.error().message,
              "digests: has 2 digest(s) (\"0\", \"1\"); exactly one, for segment \"0\", is allowed");

    md["digests"].erase("1");  // the keyslot alone, bound by no digest
    v = validate_luks2_metadata(md, {}, 1);
    ASSERT_FALSE(v.has_value());
    EXPECT_EQ(v.error().message,
              "keyslots.1: the required keyslot is not bound to segment 0 (digest 0 binds only other keyslots)");

    // B's keyslot and digest replacing A's: structurally a valid volume. Only the
    // volume-key pin checked after unsealing can tell (docs/header-validation.md).
    md = metadata("a");
    md["keyslots"]["0"] = b["keyslots"]["0"];
    md["digests"]["0"] = b["digests"]["0"];
    EXPECT_TRUE(validate_luks2_metadata(md, {}, 0).has_value());
}

// The attacks go through the binary path too, and stock cryptsetup 2.6.1 loads
// every one of these headers: the validator is the only thing refusing them.
TEST_F(Luks2Validate, CryptsetupLoadsHeadersTheValidatorRefuses) {
    const Luks2Header original = header("a");
    const struct {
        const char* name;
        std::function<void(json&)> mutate;
        const char* dump_shows;
        std::string reason;
    } cases[] = {
        {"null segment", [](json& md) { md["segments"]["0"]["encryption"] = "cipher_null-ecb"; }, "cipher_null-ecb",
         "segments.0.encryption: \"cipher_null-ecb\" is not allowed"},
        {"null keyslot area",
         [](json& md) {
             add_bound_keyslot(md);
             md["keyslots"]["1"]["area"]["encryption"] = "cipher_null-ecb";
         },
         "cipher_null-ecb", "keyslots.1.area.encryption: \"cipher_null-ecb\" is not allowed"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        Luks2Header h = original;
        h.secondary.reset();
        c.mutate(h.primary.metadata);
        auto bytes = serialize_luks2_header(h);
        ASSERT_TRUE(bytes.has_value()) << bytes.error().message;
        auto parsed = parse_luks2_header(*bytes);
        ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
        auto v = validate_luks2_header(*parsed, {}, 0);
        ASSERT_FALSE(v.has_value());
        EXPECT_EQ(v.error().code, ErrorCode::PolicyRefused);
        EXPECT_NE(v.error().message.find(c.reason), std::string::npos) << v.error().message;

        const auto img = ws_->patched_copy("a", std::string("attack-") + std::to_string(&c - cases), *bytes);
        const auto [rc, dump] = testing::run_shell_output("cryptsetup luksDump " + testing::shell_quote(img));
        EXPECT_EQ(rc, 0);
        EXPECT_NE(dump.find(c.dump_shows), std::string::npos) << dump;
    }
}

}  // namespace
}  // namespace cvmunlock
