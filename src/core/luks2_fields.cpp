#include "luks2_fields.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

namespace cvmunlock::luks2_fields {

namespace {

Result<const Json*> member(const Json& obj, std::string_view key, std::string_view path) {
    const std::string at = join(path, key);
    if (!obj.is_object()) return malformed(path, "must be a JSON object");
    const auto it = obj.find(key);
    if (it == obj.end()) return malformed(at, "missing");
    return &*it;
}

}  // namespace

std::string join(std::string_view path, std::string_view key) {
    std::string out(path);
    if (!out.empty()) out += '.';
    out += key;
    return out;
}

std::string in_quotes(std::string_view text) {
    static constexpr std::size_t kMaxShown = 64;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "\"";
    for (char c : text.substr(0, kMaxShown)) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u == 0x7f) {
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 0x0f];
        } else {
            out += c;
        }
    }
    out += text.size() > kMaxShown ? "\"..." : "\"";
    return out;
}

std::optional<std::uint64_t> parse_decimal(std::string_view text) noexcept {
    if (text.empty() || text.size() > 20 || (text.size() > 1 && text.front() == '0')) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
        value = value * 10 + digit;
    }
    return value;
}

bool is_id(std::string_view key, std::uint64_t limit) noexcept {
    const auto v = parse_decimal(key);
    return v && *v < limit;
}

bool is_null_cipher(std::string_view encryption) noexcept {
    std::string lower(encryption);
    std::ranges::transform(lower, lower.begin(),
                           [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
    return lower.find("null") != std::string::npos;
}

bool allows(const std::vector<Luks2Cipher>& list, const Luks2Cipher& cipher) {
    return std::ranges::find(list, cipher) != list.end();
}

bool allows(const std::vector<std::string>& list, std::string_view name) {
    return std::ranges::find(list, name) != list.end();
}

Result<const Json*> object_member(const Json& obj, std::string_view key, std::string_view path) {
    auto m = member(obj, key, path);
    if (m && !(*m)->is_object()) return malformed(join(path, key), "must be a JSON object");
    return m;
}

Result<const Json*> array_member(const Json& obj, std::string_view key, std::string_view path) {
    auto m = member(obj, key, path);
    if (m && !(*m)->is_array()) return malformed(join(path, key), "must be a JSON array");
    return m;
}

Result<std::string> string_member(const Json& obj, std::string_view key, std::string_view path) {
    auto m = member(obj, key, path);
    if (!m) return std::unexpected(m.error());
    if (!(*m)->is_string()) {
        return malformed(join(path, key), std::string("must be a string, not a ") + (*m)->type_name());
    }
    return (*m)->get<std::string>();
}

Result<std::uint64_t> u64_string_member(const Json& obj, std::string_view key, std::string_view path) {
    auto m = member(obj, key, path);
    if (!m) return std::unexpected(m.error());
    if (!(*m)->is_string()) {
        return malformed(join(path, key),
                         std::string("must be a decimal string (64-bit LUKS2 value), not a ") + (*m)->type_name());
    }
    const auto& text = (*m)->get_ref<const std::string&>();
    const auto v = parse_decimal(text);
    if (!v) return malformed(join(path, key), in_quotes(text) + " is not a canonical unsigned 64-bit decimal");
    return *v;
}

Result<std::uint32_t> u32_member(const Json& obj, std::string_view key, std::string_view path) {
    auto m = member(obj, key, path);
    if (!m) return std::unexpected(m.error());
    const Json& v = **m;
    // Parsed text gives number_unsigned; a document built in code may hold number_integer.
    constexpr std::uint64_t kMax = std::numeric_limits<std::uint32_t>::max();
    bool in_range = false;
    if (v.is_number_unsigned()) {
        in_range = v.get<std::uint64_t>() <= kMax;
    } else if (v.is_number_integer()) {
        const std::int64_t n = v.get<std::int64_t>();
        in_range = n >= 0 && static_cast<std::uint64_t>(n) <= kMax;
    }
    if (!in_range) {
        return malformed(join(path, key), "must be a JSON integer in 0..4294967295, not " +
                                              v.dump(-1, ' ', false, Json::error_handler_t::replace).substr(0, 64));
    }
    return static_cast<std::uint32_t>(v.get<std::uint64_t>());
}

}  // namespace cvmunlock::luks2_fields
