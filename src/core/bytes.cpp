#include "cvmunlock/bytes.hpp"

#include "cvmunlock/error.hpp"

namespace cvmunlock {

const char* error_code_name(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::InvalidInput: return "invalid-input";
        case ErrorCode::NotFound: return "not-found";
        case ErrorCode::Unavailable: return "unavailable";
        case ErrorCode::TimedOut: return "tpm-timeout";  // only the vTPM has time limits
        case ErrorCode::PolicyRefused: return "policy-refused";
        case ErrorCode::Tampered: return "tampered";
        case ErrorCode::Internal: return "internal";
    }
    return "unknown";
}

std::string to_hex(ByteView bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (std::uint8_t b : bytes) {
        out.push_back(kDigits[b >> 4]);
        out.push_back(kDigits[b & 0x0f]);
    }
    return out;
}

namespace {
int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

std::optional<Bytes> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    Bytes out;
    out.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const int hi = hex_value(hex[i]);
        const int lo = hex_value(hex[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<std::uint8_t>((hi << 4) | lo));
    }
    return out;
}

void append_le16(Bytes& out, std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v));
    out.push_back(static_cast<std::uint8_t>(v >> 8));
}
void append_le32(Bytes& out, std::uint32_t v) {
    append_le16(out, static_cast<std::uint16_t>(v));
    append_le16(out, static_cast<std::uint16_t>(v >> 16));
}
void append_le64(Bytes& out, std::uint64_t v) {
    append_le32(out, static_cast<std::uint32_t>(v));
    append_le32(out, static_cast<std::uint32_t>(v >> 32));
}

bool Reader::u8(std::uint8_t& v) noexcept {
    if (remaining() < 1) return false;
    v = data_[pos_++];
    return true;
}
bool Reader::u16(std::uint16_t& v) noexcept {
    if (remaining() < 2) return false;
    v = load_le16(data_.data() + pos_);
    pos_ += 2;
    return true;
}
bool Reader::u32(std::uint32_t& v) noexcept {
    if (remaining() < 4) return false;
    v = load_le32(data_.data() + pos_);
    pos_ += 4;
    return true;
}
bool Reader::u64(std::uint64_t& v) noexcept {
    if (remaining() < 8) return false;
    v = load_le64(data_.data() + pos_);
    pos_ += 8;
    return true;
}
bool Reader::take(std::size_t n, ByteView& out) noexcept {
    if (remaining() < n) return false;
    out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
}
bool Reader::skip(std::size_t n) noexcept {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
}

}  // namespace cvmunlock
