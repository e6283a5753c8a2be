// Strict accessors for LUKS2 JSON metadata fields (LUKS2 spec section 3):
// 64-bit values are decimal strings, small ones JSON integers, object keys
// ("0", "1", ...) canonical decimal. Every error names the field's path.
// Private to the core's LUKS2 code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cvmunlock/error.hpp"
#include "cvmunlock/luks2_header.hpp"

namespace cvmunlock::luks2_fields {

using Json = nlohmann::json;

// "path.key" (or "key" at the top level).
std::string join(std::string_view path, std::string_view key);
// "\"text\"", with control characters and quotes escaped: attacker text in messages.
std::string in_quotes(std::string_view text);

// Canonical unsigned decimal: digits only, no sign, no leading zero, fits u64.
std::optional<std::uint64_t> parse_decimal(std::string_view text) noexcept;
// A keyslot/segment/digest id as libcryptsetup names them ("%u"), below `limit`.
bool is_id(std::string_view key, std::uint64_t limit) noexcept;
// libcryptsetup's crypt_is_cipher_null() looks for "cipher_null" or "null";
// anything containing "null" in any case is refused here.
bool is_null_cipher(std::string_view encryption) noexcept;

Result<const Json*> object_member(const Json& obj, std::string_view key, std::string_view path);
Result<const Json*> array_member(const Json& obj, std::string_view key, std::string_view path);
Result<std::string> string_member(const Json& obj, std::string_view key, std::string_view path);
// A 64-bit value stored as a decimal string ("offset": "32768").
Result<std::uint64_t> u64_string_member(const Json& obj, std::string_view key, std::string_view path);
// A JSON integer in 0..UINT32_MAX ("key_size": 64); floats and strings are refused.
Result<std::uint32_t> u32_member(const Json& obj, std::string_view key, std::string_view path);

inline std::unexpected<Error> refuse(std::string_view path, const std::string& why) {
    return fail(ErrorCode::PolicyRefused, std::string(path) + ": " + why);
}
inline std::unexpected<Error> malformed(std::string_view path, const std::string& why) {
    return fail(ErrorCode::InvalidInput, std::string(path) + ": " + why);
}

bool allows(const std::vector<Luks2Cipher>& list, const Luks2Cipher& cipher);
bool allows(const std::vector<std::string>& list, std::string_view name);

// Shared by the validator's files (luks2_validate.cpp, luks2_keyslots.cpp).
struct Layout {
    std::uint64_t hdr_size = 0;        // one header copy: config.json_size + 4096
    std::uint64_t keyslots_begin = 0;  // 2 * hdr_size: keyslot areas follow both copies
    std::uint64_t keyslots_end = 0;    // keyslots_begin + config.keyslots_size
};

struct Binding {  // the only digest, binding keyslots to segment "0"
    std::string digest;
    std::vector<std::string> keyslots;
};

// Every keyslot (type, key sizes, area, kdf, af) and their areas' overlaps.
// Returns the volume-key size: key_size of the keyslots the digest binds.
Result<std::uint32_t> check_keyslots(const Json& keyslots, const Layout& layout, const Binding& binding,
                                     const Luks2Policy& policy);

}  // namespace cvmunlock::luks2_fields
