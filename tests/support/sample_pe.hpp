// A PE32+ image laid out by hand for tests: headers up to 0x200, section B's
// raw data at 0x200 and section A's at 0x400 (the section table lists A
// first), 0x80 bytes after the sections, then a 0x80-byte certificate table at
// 0x680. `seed` varies the content (not the layout).
#pragma once

#include <cstddef>
#include <cstdint>

#include "cvmunlock/bytes.hpp"

namespace cvmunlock::testing {

inline constexpr std::size_t kPeOpt = 0x58;                      // optional header
inline constexpr std::size_t kPeChecksum = kPeOpt + 64;          // CheckSum
inline constexpr std::size_t kPeCertEntry = kPeOpt + 112 + 4 * 8;  // data directory 4
inline constexpr std::size_t kPeSize = 0x700;

inline void put16(Bytes& b, std::size_t at, std::uint16_t v) {
    b[at] = static_cast<std::uint8_t>(v);
    b[at + 1] = static_cast<std::uint8_t>(v >> 8);
}
inline void put32(Bytes& b, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
}

inline Bytes sample_pe_image(std::uint8_t seed = 0) {
    Bytes b(kPeSize);
    for (std::size_t i = 0; i < kPeSize; ++i) b[i] = static_cast<std::uint8_t>((i * 7 + seed) % 251);
    b[0] = 'M';
    b[1] = 'Z';
    put32(b, 0x3C, 0x40);
    b[0x40] = 'P';
    b[0x41] = 'E';
    b[0x42] = 0;
    b[0x43] = 0;
    put16(b, 0x44, 0x8664);  // Machine
    put16(b, 0x46, 2);       // NumberOfSections
    put16(b, 0x54, 240);     // SizeOfOptionalHeader: 112 + 16 directories
    put16(b, kPeOpt, 0x20B);   // PE32+
    put32(b, kPeOpt + 60, 0x200);  // SizeOfHeaders
    put32(b, kPeOpt + 108, 16);    // NumberOfRvaAndSizes
    put32(b, kPeCertEntry, 0x680);
    put32(b, kPeCertEntry + 4, 0x80);
    const std::size_t sections = kPeOpt + 240;
    put32(b, sections + 16, 0x200);  // A: SizeOfRawData
    put32(b, sections + 20, 0x400);  //    PointerToRawData
    put32(b, sections + 40 + 16, 0x200);  // B
    put32(b, sections + 40 + 20, 0x200);
    return b;
}

}  // namespace cvmunlock::testing
