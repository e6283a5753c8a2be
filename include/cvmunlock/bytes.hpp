// Byte views, hex conversion and little-endian readers used by the parsers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cvmunlock {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

std::string to_hex(ByteView bytes);
// Accepts upper or lower case, no separators; nullopt on odd length or a non-hex digit.
std::optional<Bytes> from_hex(std::string_view hex);

inline std::uint16_t load_le16(const std::uint8_t* p) noexcept {
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
inline std::uint32_t load_le32(const std::uint8_t* p) noexcept {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
inline std::uint64_t load_le64(const std::uint8_t* p) noexcept {
    return static_cast<std::uint64_t>(load_le32(p)) |
           (static_cast<std::uint64_t>(load_le32(p + 4)) << 32);
}

void append_le16(Bytes& out, std::uint16_t v);
void append_le32(Bytes& out, std::uint32_t v);
void append_le64(Bytes& out, std::uint64_t v);

// Bounds-checked cursor over a byte view. Every read reports whether enough
// bytes remained, so parsers never index past the end.
class Reader {
public:
    explicit Reader(ByteView data, std::size_t base_offset = 0) noexcept
        : data_(data), base_(base_offset) {}

    [[nodiscard]] std::size_t offset() const noexcept { return base_ + pos_; }
    [[nodiscard]] std::size_t remaining() const noexcept { return data_.size() - pos_; }
    [[nodiscard]] bool at_end() const noexcept { return pos_ == data_.size(); }
    [[nodiscard]] ByteView rest() const noexcept { return data_.subspan(pos_); }

    bool u8(std::uint8_t& v) noexcept;
    bool u16(std::uint16_t& v) noexcept;
    bool u32(std::uint32_t& v) noexcept;
    bool u64(std::uint64_t& v) noexcept;
    bool take(std::size_t n, ByteView& out) noexcept;
    bool skip(std::size_t n) noexcept;

private:
    ByteView data_;
    std::size_t base_;
    std::size_t pos_ = 0;
};

}  // namespace cvmunlock
