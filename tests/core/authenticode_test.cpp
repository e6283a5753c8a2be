#include <gtest/gtest.h>

#include "cvmunlock/authenticode.hpp"
#include "sample_pe.hpp"

namespace cvmunlock {
namespace {

using testing::kPeCertEntry;
using testing::kPeChecksum;
using testing::kPeOpt;
using testing::put16;
using testing::put32;
Bytes sample_image() { return testing::sample_pe_image(); }
constexpr std::size_t kOpt = kPeOpt;
constexpr std::size_t kChecksum = kPeChecksum;
constexpr std::size_t kCertEntry = kPeCertEntry;

// What the specification says is hashed, spelled out as byte ranges.
Bytes expected_digest(const Bytes& b) {
    const std::pair<std::size_t, std::size_t> ranges[] = {
        {0, kChecksum}, {kChecksum + 4, kCertEntry}, {kCertEntry + 8, 0x200},  // headers
        {0x200, 0x400}, {0x400, 0x600},                                        // sections in file order
        {0x600, 0x680}};                                                       // after them, before the certificates
    Bytes all;
    for (auto [from, to] : ranges) all.insert(all.end(), b.begin() + static_cast<long>(from), b.begin() + static_cast<long>(to));
    return *hash_bytes(HashAlg::Sha256, all);
}

TEST(Authenticode, HashesHeadersSectionsInFileOrderAndTheRestButNotTheSignature) {
    const Bytes image = sample_image();
    auto d = authenticode_digest(image, HashAlg::Sha256);
    ASSERT_TRUE(d.has_value()) << d.error().message;
    EXPECT_EQ(to_hex(*d), to_hex(expected_digest(image)));
    auto d384 = authenticode_digest(image, HashAlg::Sha384);
    ASSERT_TRUE(d384.has_value());
    EXPECT_EQ(d384->size(), 48u);

    // Signing changes the checksum, the certificate entry's size and the table: not the hash.
    Bytes signed_image = image;
    put32(signed_image, kChecksum, 0xDEADBEEF);
    signed_image[0x6A0] ^= 0xFF;
    EXPECT_EQ(*authenticode_digest(signed_image, HashAlg::Sha256), *d);
    // Code, headers and the bytes after the sections are covered.
    for (std::size_t at : {std::size_t{0x10}, std::size_t{0x250}, std::size_t{0x5FF}, std::size_t{0x640}}) {
        Bytes changed = image;
        changed[at] ^= 0x01;
        EXPECT_NE(*authenticode_digest(changed, HashAlg::Sha256), *d) << "byte " << at;
    }
}

TEST(Authenticode, MalformedImagesAreRefusedNamingWhat) {
    const Bytes image = sample_image();
    for (std::size_t keep = 0; keep < image.size(); keep += 13) {
        auto d = authenticode_digest(ByteView(image).first(keep), HashAlg::Sha256);  // never crashes
        EXPECT_FALSE(d.has_value()) << keep;
    }
    Bytes bad = image;
    bad[0x40] = 'X';
    auto d = authenticode_digest(bad, HashAlg::Sha256);
    ASSERT_FALSE(d.has_value());
    EXPECT_NE(d.error().message.find("no PE signature"), std::string::npos) << d.error().message;

    bad = image;
    put32(bad, kOpt + 240 + 40 + 20, 0x6F0);  // section 1's data runs past the end
    d = authenticode_digest(bad, HashAlg::Sha256);
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(d.error().message.find("section 1"), std::string::npos) << d.error().message;

    bad = image;
    put16(bad, kOpt, 0x107);
    d = authenticode_digest(bad, HashAlg::Sha256);
    ASSERT_FALSE(d.has_value());
    EXPECT_NE(d.error().message.find("magic"), std::string::npos) << d.error().message;

    bad = image;
    put32(bad, kCertEntry + 4, 0x1000);  // certificate table larger than the file
    EXPECT_FALSE(authenticode_digest(bad, HashAlg::Sha256).has_value());
}

}  // namespace
}  // namespace cvmunlock
