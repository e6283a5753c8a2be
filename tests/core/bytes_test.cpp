#include <gtest/gtest.h>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/hash.hpp"

namespace cvmunlock {
namespace {

TEST(Bytes, HexRoundTripAndRejects) {
    const Bytes b{0x00, 0x7f, 0xab, 0xff};
    EXPECT_EQ(to_hex(b), "007fabff");
    EXPECT_EQ(from_hex("007FABff"), b);
    EXPECT_FALSE(from_hex("abc").has_value());
    EXPECT_FALSE(from_hex("zz").has_value());
}

TEST(Bytes, ReaderNeverReadsPastTheEnd) {
    const Bytes b{1, 2, 3, 4, 5};
    Reader r(b, 100);
    std::uint32_t v = 0;
    EXPECT_TRUE(r.u32(v));
    EXPECT_EQ(v, 0x04030201u);
    EXPECT_EQ(r.offset(), 104u);
    std::uint16_t w = 0;
    EXPECT_FALSE(r.u16(w));
    ByteView out;
    EXPECT_FALSE(r.take(2, out));
    EXPECT_TRUE(r.take(1, out));
    EXPECT_TRUE(r.at_end());
}

TEST(Hash, KnownAnswers) {
    const Bytes abc{'a', 'b', 'c'};
    EXPECT_EQ(to_hex(*hash_bytes(HashAlg::Sha1, abc)), "a9993e364706816aba3e25717850c26c9cd0d89d");
    EXPECT_EQ(to_hex(*hash_bytes(HashAlg::Sha256, abc)),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(to_hex(*hash_bytes(HashAlg::Sm3_256, abc)),
              "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    for (HashAlg a : {HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512, HashAlg::Sm3_256}) {
        EXPECT_EQ(hash_bytes(a, abc)->size(), hash_alg_size(a));
        EXPECT_EQ(hash_alg_from_name(hash_alg_name(a)), a);
        EXPECT_EQ(hash_alg_from_id(static_cast<std::uint16_t>(a)), a);
    }
    EXPECT_FALSE(hash_alg_from_id(0x0010).has_value());
}

}  // namespace
}  // namespace cvmunlock
