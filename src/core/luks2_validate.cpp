// Confidential-VM validation of LUKS2 metadata (LUKS2 spec section 3; layout
// rules as lib/luks2/luks2_json_metadata.c enforces them, hdr_validate_*).
// The host can rewrite the header: a cipher_null segment or keyslot area would
// make libcryptsetup map host-chosen plaintext or accept any passphrase
// (CVE-2025-59054 class). See docs/header-validation.md.
#include <algorithm>
#include <array>
#include <limits>
#include <utility>
#include <string_view>

#include "cvmunlock/luks2_header.hpp"
#include "luks2_fields.hpp"

namespace cvmunlock {

namespace {

using namespace luks2_fields;

constexpr std::uint64_t kAlign = 4096;  // data offset alignment (spec 3.3)
constexpr std::array<std::uint32_t, 4> kSectorSizes{512, 1024, 2048, 4096};

std::string list_keys(const Json& obj) {
    std::string out;
    for (const auto& [key, value] : obj.items()) out += (out.empty() ? "" : ", ") + in_quotes(key);
    return out;
}

Result<Layout> check_config(const Json& config) {
    auto json_size = u64_string_member(config, "json_size", "config");
    if (!json_size) return std::unexpected(json_size.error());
    auto keyslots_size = u64_string_member(config, "keyslots_size", "config");
    if (!keyslots_size) return std::unexpected(keyslots_size.error());
    const std::uint64_t hdr_size = *json_size + luks2::kBinaryHeaderSize;
    if (*json_size > luks2::kMaxHdrSize || hdr_size < luks2::kMinHdrSize || (hdr_size & (hdr_size - 1)) != 0) {
        return refuse("config.json_size", std::to_string(*json_size) +
                                              " is not hdr_size - 4096 for a hdr_size that is a power of "
                                              "two in 16 KiB..4 MiB");
    }
    if (*keyslots_size % kAlign != 0 || *keyslots_size > luks2::kMaxKeyslotsSize) {
        return refuse("config.keyslots_size", std::to_string(*keyslots_size) +
                                                  " is not a multiple of 4096 up to 128 MiB");
    }
    if (const auto req = config.find("requirements"); req != config.end()) {
        if (!req->is_object()) return malformed("config.requirements", "must be a JSON object");
        if (req->contains("mandatory")) {
            return refuse("config.requirements.mandatory",
                          req->at("mandatory").dump(-1, ' ', false, Json::error_handler_t::replace).substr(0, 80) +
                              ": mandatory requirements (reencryption in progress or an unknown feature) "
                              "are not allowed");
        }
    }
    return Layout{hdr_size, 2 * hdr_size, 2 * hdr_size + *keyslots_size};
}

Result<void> check_segment_fields(const Json& seg, const Layout& layout) {
    const std::string path = "segments.0";
    auto offset = u64_string_member(seg, "offset", path);
    if (!offset) return std::unexpected(offset.error());
    auto size = string_member(seg, "size", path);
    if (!size) return std::unexpected(size.error());
    auto iv_tweak = string_member(seg, "iv_tweak", path);
    if (!iv_tweak) return std::unexpected(iv_tweak.error());
    auto sector_size = u32_member(seg, "sector_size", path);
    if (!sector_size) return std::unexpected(sector_size.error());
    if (std::ranges::find(kSectorSizes, *sector_size) == kSectorSizes.end()) {
        return refuse(path + ".sector_size", std::to_string(*sector_size) + " is not 512, 1024, 2048 or 4096");
    }
    if (*offset % kAlign != 0 || *offset < layout.keyslots_end) {
        return refuse(path + ".offset", std::to_string(*offset) + " must be a multiple of 4096 at or after " +
                                            std::to_string(layout.keyslots_end) +
                                            ", the end of the headers and keyslots area");
    }
    if (*size != "dynamic") {
        const auto n = parse_decimal(*size);
        if (!n) return malformed(path + ".size", in_quotes(*size) + " is neither \"dynamic\" nor a decimal string");
        if (*n == 0 || *n % *sector_size != 0 || *n > std::numeric_limits<std::uint64_t>::max() - *offset) {
            return refuse(path + ".size", *size + " is not a non-zero multiple of the sector size");
        }
    }
    if (*iv_tweak != "0") return refuse(path + ".iv_tweak", in_quotes(*iv_tweak) + " is not \"0\"");
    if (seg.contains("integrity")) return refuse(path + ".integrity", "dm-integrity segments are not allowed");
    if (const auto flags = seg.find("flags"); flags != seg.end() && !(flags->is_array() && flags->empty())) {
        return refuse(path + ".flags", "segment flags (reencryption state) are not allowed");
    }
    return {};
}

// Exactly one segment, "0", of type "crypt"; returns its encryption.
Result<std::string> check_segments(const Json& segments, const Layout& layout) {
    if (segments.size() != 1 || !segments.contains("0")) {
        return refuse("segments", "has " + std::to_string(segments.size()) + " segment(s) (" + list_keys(segments) +
                                      "); exactly one, \"0\", is allowed");
    }
    auto seg = object_member(segments, "0", "segments");
    if (!seg) return std::unexpected(seg.error());
    auto type = string_member(**seg, "type", "segments.0");
    if (!type) return std::unexpected(type.error());
    if (*type != "crypt") return refuse("segments.0.type", in_quotes(*type) + " is not allowed, only \"crypt\"");
    auto encryption = string_member(**seg, "encryption", "segments.0");
    if (!encryption) return std::unexpected(encryption.error());
    if (is_null_cipher(*encryption)) {
        return refuse("segments.0.encryption", in_quotes(*encryption) + " is not allowed (null cipher)");
    }
    if (auto r = check_segment_fields(**seg, layout); !r) return std::unexpected(r.error());
    return *encryption;
}

// Exactly one digest, bound to segment "0" only; returns the keyslots it binds.
Result<Binding> check_digests(const Json& digests, const Json& keyslots, const Luks2Policy& policy) {
    if (digests.size() != 1) {
        return refuse("digests", "has " + std::to_string(digests.size()) + " digest(s) (" + list_keys(digests) +
                                     "); exactly one, for segment \"0\", is allowed");
    }
    const std::string id = digests.begin().key();
    const Json& digest = digests.begin().value();
    const std::string path = join("digests", id);
    if (!is_id(id, luks2::kMaxKeyslots)) return malformed(path, "digest id is not a small decimal");
    if (!digest.is_object()) return malformed(path, "must be a JSON object");
    auto type = string_member(digest, "type", path);
    if (!type) return std::unexpected(type.error());
    if (*type != "pbkdf2") return refuse(path + ".type", in_quotes(*type) + " is not \"pbkdf2\"");
    auto hash = string_member(digest, "hash", path);
    if (!hash) return std::unexpected(hash.error());
    if (!allows(policy.hashes, *hash)) return refuse(path + ".hash", in_quotes(*hash) + " is not allowed");
    auto segs = array_member(digest, "segments", path);
    if (!segs) return std::unexpected(segs.error());
    if (**segs != Json::array({"0"})) return refuse(path + ".segments", "must be [\"0\"]");
    auto slots = array_member(digest, "keyslots", path);
    if (!slots) return std::unexpected(slots.error());
    Binding binding{id, {}};
    for (const auto& slot : **slots) {
        if (!slot.is_string() || !keyslots.contains(slot.get<std::string>()) ||
            allows(binding.keyslots, slot.get<std::string>())) {
            return malformed(path + ".keyslots", "entries must be distinct names of existing keyslots");
        }
        binding.keyslots.push_back(slot.get<std::string>());
    }
    if (binding.keyslots.empty()) return refuse(path + ".keyslots", "binds no keyslot to segment 0");
    return binding;
}

struct Sections {
    const Json* keyslots = nullptr;
    const Json* segments = nullptr;
    const Json* digests = nullptr;
    const Json* config = nullptr;
    const Json* tokens = nullptr;  // must exist; its content is for token plugins, not checked
};

Result<Sections> top_sections(const Json& metadata) {
    if (!metadata.is_object()) return malformed("metadata", "must be a JSON object");
    Sections s;
    const std::pair<const char*, const Json**> wanted[] = {{"keyslots", &s.keyslots}, {"tokens", &s.tokens},
                                                            {"segments", &s.segments}, {"digests", &s.digests},
                                                            {"config", &s.config}};
    for (const auto& [name, slot] : wanted) {
        auto section = object_member(metadata, name, "");
        if (!section) return std::unexpected(section.error());
        *slot = *section;
    }
    return s;
}

Result<void> check_required_keyslot(const Json& keyslots, const Binding& binding, int keyslot) {
    const std::string name = std::to_string(keyslot);
    const std::string path = join("keyslots", name);
    if (keyslot < 0 || !keyslots.contains(name)) return refuse(path, "the required keyslot does not exist");
    if (!allows(binding.keyslots, name)) {
        return refuse(path, "the required keyslot is not bound to segment 0 (digest " + binding.digest +
                                " binds only other keyslots)");
    }
    return {};
}

}  // namespace

Result<void> validate_luks2_metadata(const nlohmann::json& metadata, const Luks2Policy& policy,
                                     std::optional<int> required_keyslot) {
    auto sections = top_sections(metadata);
    if (!sections) return std::unexpected(sections.error());
    auto layout = check_config(*sections->config);
    if (!layout) return std::unexpected(layout.error());
    auto encryption = check_segments(*sections->segments, *layout);
    if (!encryption) return std::unexpected(encryption.error());
    auto binding = check_digests(*sections->digests, *sections->keyslots, policy);
    if (!binding) return std::unexpected(binding.error());
    auto key_size = check_keyslots(*sections->keyslots, *layout, *binding, policy);
    if (!key_size) return std::unexpected(key_size.error());
    if (!allows(policy.segment_ciphers, Luks2Cipher{*encryption, *key_size})) {
        return refuse("segments.0.encryption", in_quotes(*encryption) + " with a " + std::to_string(*key_size) +
                                                   "-byte volume key is not allowed");
    }
    if (required_keyslot) return check_required_keyslot(*sections->keyslots, *binding, *required_keyslot);
    return {};
}

Result<void> validate_luks2_header(const Luks2Header& header, const Luks2Policy& policy,
                                   std::optional<int> required_keyslot) {
    // libcryptsetup loads the newer valid copy, and falls back to the other when it
    // finds one invalid by rules we do not replicate byte for byte (json-c, its own
    // JSON validation). Only identical copies leave no choice to exploit.
    if (!header.secondary) {
        return refuse("header", "no usable secondary copy (" +
                                    (header.secondary_error ? header.secondary_error->message : std::string("absent")) +
                                    "); libcryptsetup might load one we did not check: refusing (cryptsetup repair "
                                    "rewrites it)");
    }
    if (!header.copies_identical) {
        const bool secondary_newer = header.newer() == Luks2CopyId::Secondary;
        return refuse("header", "the secondary copy (seqid " + std::to_string(header.secondary->binary.seqid) +
                                    ") differs from the primary (seqid " +
                                    std::to_string(header.primary.binary.seqid) + "); libcryptsetup would use the " +
                                    (secondary_newer ? "secondary" : "primary") +
                                    ", or the other if it finds that one invalid: refusing (cryptsetup repair "
                                    "rewrites the older copy)");
    }
    const Luks2HeaderCopy& active = header.active();
    auto config = object_member(active.metadata, "config", "");
    if (!config) return std::unexpected(config.error());
    auto json_size = u64_string_member(**config, "json_size", "config");
    if (!json_size) return std::unexpected(json_size.error());
    if (*json_size != active.binary.hdr_size - luks2::kBinaryHeaderSize) {
        return refuse("config.json_size", std::to_string(*json_size) + " is not the binary header's hdr_size " +
                                              std::to_string(active.binary.hdr_size) + " - 4096");
    }
    return validate_luks2_metadata(active.metadata, policy, required_keyslot);
}

Result<Luks2Area> luks2_keyslot_area(const nlohmann::json& metadata, int keyslot) {
    const std::string id = std::to_string(keyslot);
    const std::string path = "keyslots." + id + ".area";
    if (!metadata.is_object() || !metadata.contains("keyslots") || !metadata["keyslots"].is_object() ||
        !metadata["keyslots"].contains(id) || !metadata["keyslots"][id].is_object() ||
        !metadata["keyslots"][id].contains("area") || !metadata["keyslots"][id]["area"].is_object()) {
        return fail(ErrorCode::InvalidInput, path + ": missing");
    }
    const nlohmann::json& area = metadata["keyslots"][id]["area"];
    auto offset = luks2_fields::u64_string_member(area, "offset", path);
    if (!offset) return std::unexpected(offset.error());
    auto size = luks2_fields::u64_string_member(area, "size", path);
    if (!size) return std::unexpected(size.error());
    return Luks2Area{*offset, *size};
}

}  // namespace cvmunlock
