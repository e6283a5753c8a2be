// The LUKS2 binary header parser and serializer, over real headers that
// cryptsetup formats at test time and over mutations of them.
#include <gtest/gtest.h>

#include <memory>

#include "cvmunlock/luks2_header.hpp"
#include "luks2_test_image.hpp"

namespace cvmunlock {
namespace {

using testing::fix_checksum;
using testing::Luks2Workspace;
using testing::run_shell_output;

constexpr std::size_t kHdr = 16384;  // cryptsetup's default hdr_size

class Luks2Binary : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!testing::have_cryptsetup()) return;
        ws_ = std::make_unique<Luks2Workspace>();
        ok_ = ws_->format("a") && ws_->format("m64", "--luks2-metadata-size 64k");
    }
    static void TearDownTestSuite() { ws_.reset(); }
    void SetUp() override {
        // The test command installs cryptsetup: without it these tests fail, they do not skip.
        ASSERT_TRUE(ok_) << "cryptsetup luksFormat failed or is not installed";
    }
    static Luks2Header parse(ByteView bytes) {
        auto h = parse_luks2_header(bytes);
        EXPECT_TRUE(h.has_value()) << h.error().message;
        return h.value_or(Luks2Header{});
    }
    static Bytes serialize(const Luks2Header& h) {
        auto b = serialize_luks2_header(h);
        EXPECT_TRUE(b.has_value()) << b.error().message;
        return b.value_or(Bytes{});
    }
    static void expect_error(ByteView bytes, ErrorCode code, const std::string& reason) {
        auto h = parse_luks2_header(bytes);
        ASSERT_FALSE(h.has_value()) << "accepted; expected: " << reason;
        EXPECT_EQ(h.error().code, code) << h.error().message;
        EXPECT_NE(h.error().message.find(reason), std::string::npos) << h.error().message;
    }

    static inline std::unique_ptr<Luks2Workspace> ws_;
    static inline bool ok_ = false;
};

TEST_F(Luks2Binary, ParsesWhatCryptsetupWrites) {
    for (const auto& [name, hdr_size] : {std::pair{"a", kHdr}, std::pair{"m64", std::size_t{65536}}}) {
        SCOPED_TRACE(name);
        const auto h = parse(ws_->region(name));
        const auto [rc, uuid] = run_shell_output("cryptsetup luksUUID " + testing::shell_quote(ws_->path(name)));
        ASSERT_EQ(rc, 0);
        EXPECT_EQ(h.primary.binary.uuid + "\n", uuid);
        EXPECT_EQ(h.primary.binary.hdr_size, hdr_size);
        EXPECT_EQ(h.primary.binary.checksum_alg, "sha256");
        EXPECT_EQ(h.primary.binary.hdr_offset, 0u);
        ASSERT_TRUE(h.secondary.has_value()) << h.secondary_error->message;
        EXPECT_EQ(h.secondary->binary.hdr_offset, hdr_size);
        EXPECT_NE(h.primary.binary.salt, h.secondary->binary.salt);  // cryptsetup salts each copy
        EXPECT_TRUE(h.copies_identical);
        EXPECT_EQ(h.newer(), Luks2CopyId::Primary);
        EXPECT_EQ(h.primary.metadata["config"]["json_size"], std::to_string(hdr_size - 4096));
        auto valid = validate_luks2_header(h, {}, 0);
        EXPECT_TRUE(valid.has_value()) << valid.error().message;
    }
}

TEST_F(Luks2Binary, RoundTripIsStableAndCryptsetupStillOpensIt) {
    for (const std::string name : {"a", "m64"}) {
        SCOPED_TRACE(name);
        const auto h = parse(ws_->region(name));
        const Bytes once = serialize(h);
        ASSERT_EQ(once.size(), 2 * h.primary.binary.hdr_size);
        const auto again = parse(once);
        EXPECT_EQ(again.primary.metadata, h.primary.metadata);
        EXPECT_EQ(again.primary.binary.uuid, h.primary.binary.uuid);
        EXPECT_EQ(again.primary.binary.salt, h.primary.binary.salt);
        EXPECT_EQ(again.secondary->binary.salt, h.secondary->binary.salt);
        EXPECT_EQ(again.primary.binary.seqid, h.primary.binary.seqid);
        EXPECT_TRUE(again.copies_identical);
        EXPECT_EQ(serialize(again), once);
        // libcryptsetup accepts what the serializer writes, and the keyslot still opens.
        const auto img = ws_->patched_copy(name, name + "-rt", once);
        EXPECT_EQ(ws_->dump(img), 0);
        EXPECT_EQ(ws_->test_passphrase(img), 0);
    }
}

TEST_F(Luks2Binary, ChecksumCoversEveryByteOfTheCopy) {
    const Bytes good = ws_->region("a");
    for (std::size_t at : {24u, 104u, 168u, 300u, 600u, 4096u, 4200u, 12000u, 16383u}) {
        Bytes bad = good;
        bad[at] ^= 0x01;
        SCOPED_TRACE(at);
        expect_error(bad, ErrorCode::Tampered, "primary header: checksum mismatch");
    }
    Bytes bad = good;
    bad[448] ^= 0x80;
    expect_error(bad, ErrorCode::Tampered, "checksum mismatch");
}

TEST_F(Luks2Binary, TruncationAtEachFieldBoundaryIsRefused) {
    const Bytes good = ws_->region("a");
    // Table 1 field boundaries, the JSON area, and the end of the primary.
    for (std::size_t cut : {0u, 1u, 6u, 8u, 16u, 24u, 72u, 104u, 168u, 208u, 256u, 264u, 448u, 512u, 4095u,
                            4096u, 4097u, 8192u, 16383u}) {
        SCOPED_TRACE(cut);
        expect_error(ByteView(good).first(cut), ErrorCode::InvalidInput, "input ends at offset");
    }
    // A cut inside the secondary leaves the primary usable; the reason is kept.
    for (std::size_t cut : {kHdr, kHdr + 6, kHdr + 4096, 2 * kHdr - 1}) {
        SCOPED_TRACE(cut);
        const auto h = parse(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)));
        EXPECT_FALSE(h.secondary.has_value());
        ASSERT_TRUE(h.secondary_error.has_value());
        EXPECT_NE(h.secondary_error->message.find("input ends at offset"), std::string::npos);
    }
    EXPECT_TRUE(parse(ByteView(good).first(2 * kHdr)).copies_identical);
}

TEST_F(Luks2Binary, FixedFieldsAreChecked) {
    const Bytes good = ws_->region("a");
    const struct {
        std::size_t at;
        std::uint8_t value;
        bool rechecksum;
        const char* reason;
    } cases[] = {
        {0, 'l', false, "bad magic"},
        {5, 0xbf, false, "bad magic"},
        {7, 1, false, "version 1"},
        {7, 3, false, "version 3"},
        {6, 1, false, "version 258"},
        {14, 0x41, false, "hdr_size 16640"},           // not a power of two
        {13, 0x80, false, "is not a power of two"},    // 8 MiB + 16 KiB
        {8, 0x01, false, "is not a power of two"},     // 2^56 + 16 KiB
        {263, 0x01, false, "hdr_offset 1"},
        {72, 'S', false, "checksum_alg \"Sha256\""},
        {280, 0x01, true, "non-zero padding"},
        {500, 0x01, true, "non-zero padding"},         // csum bytes beyond SHA-256's 32
        {4000, 0x01, true, "non-zero padding"},
        {24 + 47, 'x', true, "label at offset 24 is not NUL-terminated"},
        {168 + 39, 'x', true, "uuid at offset 168"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.reason);
        Bytes bad = good;
        bad[c.at] = c.value;
        if (c.rechecksum) fix_checksum(bad, 0, kHdr);
        if (c.at >= 448 && c.at < 512) bad[c.at] = c.value;  // not covered by the checksum
        expect_error(bad, ErrorCode::InvalidInput, c.reason);
    }
}

TEST_F(Luks2Binary, OtherChecksumAlgorithmsAreRefused) {
    auto h = parse(ws_->region("a"));
    h.primary.binary.checksum_alg = "sha512";  // libcryptsetup would accept it; we do not
    expect_error(serialize(h), ErrorCode::InvalidInput, "checksum_alg \"sha512\" is not sha256");
}

// JSON area rules of libcryptsetup's validate_json_area, and our extra strictness.
TEST_F(Luks2Binary, JsonAreaIsParsedStrictly) {
    const Bytes good = ws_->region("a");
    const std::string text(reinterpret_cast<const char*>(good.data()) + 4096);
    const std::string deep = std::string(40, '[') + std::string(40, ']');
    const struct {
        std::string area;  // written at 4096, NUL-padded
        std::size_t junk_at;
        const char* reason;
    } cases[] = {
        {"", 0, "must be one JSON object"},
        {" " + text, 0, "must be one JSON object"},
        {text + " ", 0, "must be one JSON object"},
        {"[]", 0, "must be one JSON object"},
        {"{\"a\":1,}", 0, "not valid JSON"},
        {"{\"a\":1,\"a\":2}", 0, "duplicate key"},
        {"{\"k\":{\"x\":1,\"x\":1}}", 0, "duplicate key"},
        // json-c cuts keys at NUL: "segments\u0000" would be "segments" to libcryptsetup.
        {"{\"segments\\u0000\":1}", 0, "NUL or control character"},
        {"{\"k\":{\"a\\u001fb\":1}}", 0, "NUL or control character"},
        {"{\"a\":1 /* comment */}", 0, "not valid JSON"},
        {"{\"a\":" + deep + "}", 0, "deeper than 32"},
        {text, 8000, "non-zero bytes after the NUL"},
        {std::string(kHdr - 4096, '{'), 0, "no NUL terminator"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.reason);
        Bytes bad = good;
        std::fill(bad.begin() + 4096, bad.begin() + kHdr, std::uint8_t{0});
        std::copy(c.area.begin(), c.area.end(), bad.begin() + 4096);
        if (c.junk_at != 0) bad[c.junk_at] = 'x';
        fix_checksum(bad, 0, kHdr);
        expect_error(bad, ErrorCode::InvalidInput, c.reason);
    }
}

TEST_F(Luks2Binary, NewerSecondaryIsTheActiveCopyAndMismatchIsRefused) {
    auto h = parse(ws_->region("a"));
    h.secondary->binary.seqid = h.primary.binary.seqid + 1;
    h.secondary->metadata["segments"]["0"]["encryption"] = "cipher_null-ecb";
    const Bytes bytes = serialize(h);
    const auto parsed = parse(bytes);
    EXPECT_FALSE(parsed.copies_identical);
    EXPECT_EQ(parsed.newer(), Luks2CopyId::Secondary);
    EXPECT_EQ(parsed.active().metadata["segments"]["0"]["encryption"], "cipher_null-ecb");
    auto v = validate_luks2_header(parsed, {}, 0);
    ASSERT_FALSE(v.has_value());
    EXPECT_EQ(v.error().code, ErrorCode::PolicyRefused);
    EXPECT_NE(v.error().message.find("the secondary copy (seqid 4) differs from the primary (seqid 3)"),
              std::string::npos)
        << v.error().message;
    EXPECT_NE(v.error().message.find("libcryptsetup would use the secondary"), std::string::npos);

    // libcryptsetup 2.6.1 does activate from the newer secondary: luksDump shows its cipher.
    const auto img = ws_->patched_copy("a", "a-newer2", bytes);
    const auto [rc, dump] = run_shell_output("cryptsetup luksDump " + testing::shell_quote(img));
    EXPECT_EQ(rc, 0);
    EXPECT_NE(dump.find("cipher_null-ecb"), std::string::npos) << dump;
}

// Copies whose JSON is byte-identical say the same whichever libcryptsetup
// loads: a seqid that differs (an update interrupted between the two writes)
// is accepted, as libcryptsetup (which loads the newer and repairs the other)
// accepts it. Copies whose JSON differs are refused (the tests above).
TEST_F(Luks2Binary, CopiesThatDifferOnlyInSeqidAreAccepted) {
    auto h = parse(ws_->region("a"));
    h.secondary->binary.seqid = h.primary.binary.seqid - 1;
    const auto parsed = parse(serialize(h));
    EXPECT_EQ(parsed.newer(), Luks2CopyId::Primary);
    EXPECT_TRUE(parsed.copies_identical);
    auto v = validate_luks2_header(parsed, {}, 0);
    EXPECT_TRUE(v.has_value()) << v.error().message;
}

TEST_F(Luks2Binary, DamagedSecondaryIsReportedAndRefused) {
    Bytes bytes = ws_->region("a");
    bytes[kHdr + 5000] ^= 0x01;
    const auto h = parse(bytes);
    EXPECT_FALSE(h.secondary.has_value());
    ASSERT_TRUE(h.secondary_error.has_value());
    EXPECT_EQ(h.secondary_error->code, ErrorCode::Tampered);
    EXPECT_NE(h.secondary_error->message.find("secondary header: checksum mismatch"), std::string::npos);
    // libcryptsetup would use the primary here, but a secondary we cannot parse may be
    // one it can (say with checksum_alg sha512 and a higher seqid): refused.
    auto v = validate_luks2_header(h, {}, 0);
    ASSERT_FALSE(v.has_value());
    EXPECT_NE(v.error().message.find("header: no usable secondary copy (secondary header: checksum mismatch"),
              std::string::npos)
        << v.error().message;
    bytes[kHdr] = 'L';  // a primary magic where the secondary belongs
    EXPECT_NE(parse(bytes).secondary_error->message.find("bad magic"), std::string::npos);
}

// Why a secondary we cannot parse is not simply ignored: libcryptsetup accepts any
// checksum_alg it can hash, and loads the newer copy.
TEST_F(Luks2Binary, SecondaryOnlyCryptsetupCanReadIsRefused) {
    auto h = parse(ws_->region("a"));
    h.secondary->binary.seqid = h.primary.binary.seqid + 1;
    h.secondary->metadata["segments"]["0"]["encryption"] = "cipher_null-ecb";
    Bytes bytes = serialize(h);
    std::fill_n(bytes.begin() + kHdr + 72, 32, std::uint8_t{0});
    const std::string sha512 = "sha512";
    std::copy(sha512.begin(), sha512.end(), bytes.begin() + kHdr + 72);
    Bytes copy(bytes.begin() + kHdr, bytes.end());
    std::fill_n(copy.begin() + 448, 64, std::uint8_t{0});
    const Bytes sum = *hash_bytes(HashAlg::Sha512, copy);
    std::copy(sum.begin(), sum.end(), bytes.begin() + kHdr + 448);

    const auto parsed = parse(bytes);
    ASSERT_FALSE(parsed.secondary.has_value());
    EXPECT_NE(parsed.secondary_error->message.find("checksum_alg \"sha512\" is not sha256"), std::string::npos);
    auto v = validate_luks2_header(parsed, {}, 0);
    ASSERT_FALSE(v.has_value());
    EXPECT_NE(v.error().message.find("no usable secondary copy"), std::string::npos) << v.error().message;

    const auto img = ws_->patched_copy("a", "a-sha512", bytes);
    const auto [rc, dump] = run_shell_output("cryptsetup luksDump " + testing::shell_quote(img));
    EXPECT_EQ(rc, 0);
    EXPECT_NE(dump.find("cipher_null-ecb"), std::string::npos) << "libcryptsetup did not load the secondary:\n"
                                                                 << dump;
}

TEST_F(Luks2Binary, DamagedPrimaryIsRefusedEvenWithAGoodSecondary) {
    Bytes bytes = ws_->region("a");
    bytes[5000] ^= 0x01;  // libcryptsetup would fall back to the secondary; we refuse
    expect_error(bytes, ErrorCode::Tampered, "primary header: checksum mismatch");
}

TEST_F(Luks2Binary, JsonSizeMustMatchTheBinaryHeader) {
    auto h = parse(ws_->region("a"));
    h.primary.metadata["config"]["json_size"] = "61440";  // a valid size, but of a 64 KiB header
    h.secondary.reset();                                  // serialized as a copy of the primary
    auto v = validate_luks2_header(parse(serialize(h)), {}, 0);
    ASSERT_FALSE(v.has_value());
    EXPECT_NE(v.error().message.find("config.json_size: 61440 is not the binary header's hdr_size 16384"),
              std::string::npos)
        << v.error().message;
}

TEST_F(Luks2Binary, SerializerRefusesWhatDoesNotFit) {
    const auto good = parse(ws_->region("a"));
    auto h = good;
    h.primary.binary.label = std::string(48, 'x');
    EXPECT_FALSE(serialize_luks2_header(h).has_value());
    h = good;
    h.primary.binary.hdr_size = 20000;
    EXPECT_FALSE(serialize_luks2_header(h).has_value());
    h = good;
    h.primary.metadata["tokens"]["0"] = {{"type", std::string(kHdr, 'x')}, {"keyslots", nlohmann::json::array()}};
    auto r = serialize_luks2_header(h);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("does not fit"), std::string::npos) << r.error().message;
    h = good;
    h.primary.binary.salt = Bytes(3, 1);
    EXPECT_FALSE(serialize_luks2_header(h).has_value());
}

}  // namespace
}  // namespace cvmunlock
