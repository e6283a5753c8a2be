#include "cvmunlock/uefi_variable.hpp"

#include <cstdio>

namespace cvmunlock {

std::optional<UefiVariableView> parse_uefi_variable(ByteView event_data) {
    Reader r(event_data);
    UefiVariableView v;
    std::uint64_t name_len = 0;
    std::uint64_t data_len = 0;
    if (!r.take(16, v.guid) || !r.u64(name_len) || !r.u64(data_len)) return std::nullopt;
    if (name_len > r.remaining() / 2) return std::nullopt;
    ByteView name;
    r.take(static_cast<std::size_t>(name_len) * 2, name);
    if (data_len != r.remaining()) return std::nullopt;
    r.take(static_cast<std::size_t>(data_len), v.data);
    v.name.reserve(static_cast<std::size_t>(name_len));
    for (std::size_t i = 0; i + 1 < name.size(); i += 2) {
        const char16_t c = static_cast<char16_t>(load_le16(name.data() + i));
        if (c == 0) break;  // some firmware counts the terminating NUL
        v.name.push_back(c);
    }
    return v;
}

std::string guid_to_string(ByteView g) {
    if (g.size() != 16) return "invalid-guid";
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", load_le32(g.data()),
                  load_le16(g.data() + 4), load_le16(g.data() + 6), g[8], g[9], g[10], g[11], g[12], g[13],
                  g[14], g[15]);
    return buf;
}

std::string utf16_to_utf8(const std::u16string& s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char32_t cp = s[i];
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < s.size() && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (s[i + 1] - 0xDC00);
            ++i;
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD;
        }
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }
    return out;
}

}  // namespace cvmunlock
