// Keyslot checks of the LUKS2 validator (LUKS2 spec 3.2 "keyslots"; area
// rules as lib/luks2/luks2_json_metadata.c hdr_validate_areas enforces them).
// A cipher_null keyslot area stores the AF-split volume key in plaintext, so
// any passphrase "opens" it and yields a key the host chose.
#include <algorithm>

#include "luks2_fields.hpp"

namespace cvmunlock::luks2_fields {

namespace {

constexpr std::uint64_t kAlign = 4096;      // area offsets and sizes (libcryptsetup allocates 4 KiB units)
constexpr std::uint32_t kAfStripes = 4000;  // LUKS_STRIPES, spec 3.2 "af"
constexpr std::uint64_t kSectorSize = 512;  // AF material is read in 512-byte sectors

struct Area {
    std::string path;
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
};

Result<void> check_area_cipher(const std::string& path, const Json& area, std::uint32_t key_size,
                               const Luks2Policy& policy) {
    auto type = string_member(area, "type", path);
    if (!type) return std::unexpected(type.error());
    if (*type != "raw") return refuse(path + ".type", in_quotes(*type) + " is not \"raw\"");
    auto encryption = string_member(area, "encryption", path);
    if (!encryption) return std::unexpected(encryption.error());
    auto area_key_size = u32_member(area, "key_size", path);
    if (!area_key_size) return std::unexpected(area_key_size.error());
    if (is_null_cipher(*encryption)) {
        return refuse(path + ".encryption", in_quotes(*encryption) + " is not allowed (null cipher)");
    }
    if (!allows(policy.keyslot_area_ciphers, Luks2Cipher{*encryption, *area_key_size})) {
        return refuse(path + ".encryption", in_quotes(*encryption) + " with a " + std::to_string(*area_key_size) +
                                                "-byte key is not allowed");
    }
    if (*area_key_size != key_size) {
        return refuse(path + ".key_size", std::to_string(*area_key_size) + " differs from the keyslot's key_size " +
                                              std::to_string(key_size));
    }
    return {};
}

Result<Area> check_area(const std::string& path, const Json& area, std::uint32_t key_size, const Layout& layout,
                        const Luks2Policy& policy) {
    if (auto r = check_area_cipher(path, area, key_size, policy); !r) return std::unexpected(r.error());
    auto offset = u64_string_member(area, "offset", path);
    if (!offset) return std::unexpected(offset.error());
    auto size = u64_string_member(area, "size", path);
    if (!size) return std::unexpected(size.error());
    const std::uint64_t af_bytes =
        (static_cast<std::uint64_t>(key_size) * kAfStripes + kSectorSize - 1) / kSectorSize * kSectorSize;
    if (*offset % kAlign != 0 || *size % kAlign != 0 || *size < af_bytes || *offset < layout.keyslots_begin ||
        *offset > layout.keyslots_end || *size > layout.keyslots_end - *offset) {
        return refuse(path, "[" + std::to_string(*offset) + ", +" + std::to_string(*size) +
                                ") must be 4096-aligned, hold the " + std::to_string(af_bytes) +
                                " bytes of AF material and lie within the keyslots area [" +
                                std::to_string(layout.keyslots_begin) + ", " + std::to_string(layout.keyslots_end) +
                                ")");
    }
    return Area{path, *offset, *size};
}

Result<void> check_kdf(const std::string& path, const Json& kdf, const Luks2Policy& policy) {
    auto type = string_member(kdf, "type", path);
    if (!type) return std::unexpected(type.error());
    std::string name = *type;
    std::vector<const char*> params{"time", "memory", "cpus"};
    if (*type == "pbkdf2") {
        auto hash = string_member(kdf, "hash", path);
        if (!hash) return std::unexpected(hash.error());
        name += "-" + *hash;
        params = {"iterations"};
    }
    if (!allows(policy.keyslot_kdfs, name)) return refuse(path + ".type", in_quotes(name) + " is not allowed");
    for (const char* param : params) {
        auto v = u32_member(kdf, param, path);
        if (!v) return std::unexpected(v.error());
        if (*v == 0) return refuse(join(path, param), "must not be 0");
    }
    if (auto salt = string_member(kdf, "salt", path); !salt) return std::unexpected(salt.error());
    return {};
}

Result<void> check_af(const std::string& path, const Json& af, const Luks2Policy& policy) {
    auto type = string_member(af, "type", path);
    if (!type) return std::unexpected(type.error());
    if (*type != "luks1") return refuse(path + ".type", in_quotes(*type) + " is not \"luks1\"");
    auto stripes = u32_member(af, "stripes", path);
    if (!stripes) return std::unexpected(stripes.error());
    if (*stripes != kAfStripes) return refuse(path + ".stripes", std::to_string(*stripes) + " is not 4000");
    auto hash = string_member(af, "hash", path);
    if (!hash) return std::unexpected(hash.error());
    if (!allows(policy.hashes, *hash)) return refuse(path + ".hash", in_quotes(*hash) + " is not allowed");
    return {};
}

Result<Area> check_keyslot(const std::string& path, const Json& keyslot, std::uint32_t key_size,
                           const Layout& layout, const Luks2Policy& policy) {
    auto type = string_member(keyslot, "type", path);
    if (!type) return std::unexpected(type.error());
    if (*type == "reencrypt") return refuse(path + ".type", "\"reencrypt\": a reencryption is in progress");
    if (*type != "luks2") return refuse(path + ".type", in_quotes(*type) + " is not \"luks2\"");
    auto own_key_size = u32_member(keyslot, "key_size", path);
    if (!own_key_size) return std::unexpected(own_key_size.error());
    if (*own_key_size != key_size) {
        return refuse(path + ".key_size", std::to_string(*own_key_size) + " differs from the volume key size " +
                                              std::to_string(key_size) + " of segment 0");
    }
    const std::string area_path = path + ".area", kdf_path = path + ".kdf", af_path = path + ".af";
    auto area_obj = object_member(keyslot, "area", path);
    if (!area_obj) return std::unexpected(area_obj.error());
    auto area = check_area(area_path, **area_obj, key_size, layout, policy);
    if (!area) return std::unexpected(area.error());
    auto kdf = object_member(keyslot, "kdf", path);
    if (!kdf) return std::unexpected(kdf.error());
    if (auto r = check_kdf(kdf_path, **kdf, policy); !r) return std::unexpected(r.error());
    auto af = object_member(keyslot, "af", path);
    if (!af) return std::unexpected(af.error());
    if (auto r = check_af(af_path, **af, policy); !r) return std::unexpected(r.error());
    return area;
}

Result<void> check_overlaps(std::vector<Area> areas) {
    std::ranges::sort(areas, {}, &Area::offset);
    for (std::size_t i = 1; i < areas.size(); ++i) {
        const Area& a = areas[i - 1];
        const Area& b = areas[i];
        if (b.offset < a.offset + a.size) {
            return refuse(b.path, "[" + std::to_string(b.offset) + ", +" + std::to_string(b.size) + ") overlaps " +
                                      a.path + " [" + std::to_string(a.offset) + ", +" + std::to_string(a.size) +
                                      ")");
        }
    }
    return {};
}

}  // namespace

Result<std::uint32_t> check_keyslots(const Json& keyslots, const Layout& layout, const Binding& binding,
                                     const Luks2Policy& policy) {
    // The volume-key size is what the keyslots bound to segment 0 unlock.
    const std::string bound_path = join("keyslots", binding.keyslots.front());
    auto key_size = u32_member(keyslots.at(binding.keyslots.front()), "key_size", bound_path);
    if (!key_size) return std::unexpected(key_size.error());
    std::vector<Area> areas;
    for (const auto& [id, keyslot] : keyslots.items()) {
        const std::string path = join("keyslots", id);
        if (!is_id(id, luks2::kMaxKeyslots)) return malformed(path, "keyslot id is not a decimal below 32");
        if (!keyslot.is_object()) return malformed(path, "must be a JSON object");
        auto area = check_keyslot(path, keyslot, *key_size, layout, policy);
        if (!area) return std::unexpected(area.error());
        areas.push_back(std::move(*area));
    }
    if (auto r = check_overlaps(std::move(areas)); !r) return std::unexpected(r.error());
    return *key_size;
}

}  // namespace cvmunlock::luks2_fields
