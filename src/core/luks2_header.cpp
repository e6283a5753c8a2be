// LUKS2 binary header + JSON area: parser and serializer.
// Layout: LUKS2 On-Disk Format Specification 2.1, Table 1 (all integers
// big-endian); the reading rules mirror lib/luks2/luks2_disk_metadata.c
// (hdr_disk_sanity_check_pre, hdr_checksum_check, validate_json_area).
#include "cvmunlock/luks2_header.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <set>
#include <string_view>

#include "cvmunlock/hash.hpp"

namespace cvmunlock {

namespace {

// LUKS2 spec 2.1, Table 1: binary header fields (offset, size).
constexpr std::size_t kMagicOffset = 0, kMagicSize = 6;
constexpr std::size_t kVersionOffset = 6;  // u16
constexpr std::size_t kHdrSizeOffset = 8;  // u64
constexpr std::size_t kSeqidOffset = 16;   // u64
constexpr std::size_t kLabelOffset = 24, kLabelSize = 48;
constexpr std::size_t kChecksumAlgOffset = 72, kChecksumAlgSize = 32;
constexpr std::size_t kSaltOffset = 104, kSaltSize = 64;
constexpr std::size_t kUuidOffset = 168, kUuidSize = 40;
constexpr std::size_t kSubsystemOffset = 208, kSubsystemSize = 48;
constexpr std::size_t kHdrOffsetOffset = 256;  // u64
constexpr std::size_t kPadding1Offset = 264, kPadding1Size = 184;
constexpr std::size_t kChecksumOffset = 448, kChecksumSize = 64;
constexpr std::size_t kPadding2Offset = 512;  // up to kBinaryHeaderSize
constexpr std::size_t kSha256Size = 32;

constexpr std::array<std::uint8_t, kMagicSize> kMagicPrimary{'L', 'U', 'K', 'S', 0xba, 0xbe};
constexpr std::array<std::uint8_t, kMagicSize> kMagicSecondary{'S', 'K', 'U', 'L', 0xba, 0xbe};
constexpr std::uint16_t kVersion = 2;
// json-c's default nesting limit (JSON_TOKENER_DEFAULT_DEPTH): deeper JSON never loads.
constexpr std::size_t kMaxJsonDepth = 32;

std::uint16_t load_be16(const std::uint8_t* p) noexcept {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint64_t load_be64(const std::uint8_t* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
}
void store_be16(std::uint8_t* p, std::uint16_t v) noexcept {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
void store_be64(std::uint8_t* p, std::uint64_t v) noexcept {
    for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}

bool valid_hdr_size(std::uint64_t size) noexcept {
    return size >= luks2::kMinHdrSize && size <= luks2::kMaxHdrSize && (size & (size - 1)) == 0;
}
bool all_zero(ByteView v) noexcept {
    return std::all_of(v.begin(), v.end(), [](std::uint8_t b) { return b == 0; });
}

struct CopyParse {
    Luks2HeaderCopy copy;
    ByteView json_area;
};

std::string where(std::size_t base, std::size_t field_offset) {
    return "offset " + std::to_string(base + field_offset);
}

// A NUL-terminated string field whose remaining bytes are zero, as hdr_to_disk writes it.
Result<std::string> string_field(ByteView hdr, std::size_t offset, std::size_t size,
                                 std::size_t base, const char* name) {
    const ByteView field = hdr.subspan(offset, size);
    const auto nul = std::find(field.begin(), field.end(), std::uint8_t{0});
    if (nul == field.end() || !all_zero(ByteView(nul, field.end()))) {
        return fail(ErrorCode::InvalidInput, std::string(name) + " at " + where(base, offset) +
                                                 " is not NUL-terminated and zero-padded");
    }
    return std::string(field.begin(), nul);
}

Result<Bytes> header_checksum(ByteView copy_bytes) {
    Bytes tmp(copy_bytes.begin(), copy_bytes.end());
    std::fill_n(tmp.begin() + kChecksumOffset, kChecksumSize, std::uint8_t{0});
    return hash_bytes(HashAlg::Sha256, tmp);
}

// JSON area rules of validate_json_area plus strictness json-c would not need:
// no duplicate keys (a classic parser differential) and json-c's depth limit.
Result<nlohmann::json> parse_json_area(ByteView area, std::size_t base) {
    const std::string at = "JSON area at " + where(base, luks2::kBinaryHeaderSize);
    const auto nul = std::find(area.begin(), area.end(), std::uint8_t{0});
    if (nul == area.end()) return fail(ErrorCode::InvalidInput, at + ": no NUL terminator");
    if (!all_zero(ByteView(nul, area.end()))) {
        return fail(ErrorCode::InvalidInput, at + ": non-zero bytes after the NUL terminator");
    }
    const std::string_view text(reinterpret_cast<const char*>(area.data()),
                                static_cast<std::size_t>(nul - area.begin()));
    if (text.empty() || text.front() != '{' || text.back() != '}') {
        return fail(ErrorCode::InvalidInput, at + ": must be one JSON object with nothing around it");
    }
    std::vector<std::set<std::string>> keys;
    bool duplicate = false;
    bool too_deep = false;
    bool control_in_key = false;
    auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        using E = nlohmann::json::parse_event_t;
        if (event == E::object_start || event == E::array_start) {
            too_deep |= static_cast<std::size_t>(depth) + 1 > kMaxJsonDepth;
            if (event == E::object_start) keys.emplace_back();
        } else if (event == E::object_end && !keys.empty()) {
            keys.pop_back();
        } else if (event == E::key && !keys.empty()) {
            const auto& key = parsed.get_ref<const std::string&>();
            // json-c (libcryptsetup) ends a key at an escaped NUL: "segments\u0000" would be
            // "segments" to it and another key to us. No LUKS2 key holds a control character.
            control_in_key |= std::any_of(key.begin(), key.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
            duplicate |= !keys.back().insert(key).second;
        }
        return true;
    };
    auto doc = nlohmann::json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) return fail(ErrorCode::InvalidInput, at + ": not valid JSON");
    if (duplicate) return fail(ErrorCode::InvalidInput, at + ": an object has a duplicate key");
    if (control_in_key) return fail(ErrorCode::InvalidInput, at + ": a key holds a NUL or control character");
    if (too_deep) return fail(ErrorCode::InvalidInput, at + ": nested deeper than 32 levels");
    return doc;
}

// Magic, version, sizes and offset: what must hold before the checksum means anything.
Result<std::uint64_t> check_fixed_fields(ByteView bytes, std::size_t base, bool secondary) {
    const std::string at = secondary ? "secondary header" : "primary header";
    Reader reader(bytes.subspan(std::min(base, bytes.size())), base);
    ByteView hdr;
    if (!reader.take(luks2::kBinaryHeaderSize, hdr)) {
        return fail(ErrorCode::InvalidInput, at + ": input ends at offset " + std::to_string(bytes.size()) +
                                                 ", inside the 4096-byte binary header at " + where(base, 0));
    }
    const auto& magic = secondary ? kMagicSecondary : kMagicPrimary;
    if (!std::equal(magic.begin(), magic.end(), hdr.begin() + kMagicOffset)) {
        return fail(ErrorCode::InvalidInput, at + ": bad magic at " + where(base, kMagicOffset));
    }
    if (const auto version = load_be16(hdr.data() + kVersionOffset); version != kVersion) {
        return fail(ErrorCode::InvalidInput, at + ": version " + std::to_string(version) + " at " +
                                                 where(base, kVersionOffset) + ", expected 2");
    }
    const std::uint64_t hdr_size = load_be64(hdr.data() + kHdrSizeOffset);
    if (!valid_hdr_size(hdr_size) || (secondary && hdr_size != base)) {
        return fail(ErrorCode::InvalidInput, at + ": hdr_size " + std::to_string(hdr_size) + " at " +
                                                 where(base, kHdrSizeOffset) +
                                                 (secondary ? " is not the primary's hdr_size"
                                                            : " is not a power of two in 16 KiB..4 MiB"));
    }
    if (const auto off = load_be64(hdr.data() + kHdrOffsetOffset); off != base) {
        return fail(ErrorCode::InvalidInput, at + ": hdr_offset " + std::to_string(off) + " at " +
                                                 where(base, kHdrOffsetOffset) + ", expected " +
                                                 std::to_string(base));
    }
    auto alg = string_field(hdr, kChecksumAlgOffset, kChecksumAlgSize, base, "checksum_alg");
    if (!alg) return std::unexpected(alg.error().context(at));
    if (*alg != "sha256") {
        return fail(ErrorCode::InvalidInput, at + ": checksum_alg \"" + *alg + "\" is not sha256");
    }
    if (bytes.size() - base < hdr_size) {
        return fail(ErrorCode::InvalidInput, at + ": input ends at offset " + std::to_string(bytes.size()) +
                                                 ", inside the JSON area (hdr_size " +
                                                 std::to_string(hdr_size) + ")");
    }
    return hdr_size;
}

Result<Luks2BinaryHeader> read_binary(ByteView hdr, std::size_t base) {
    Luks2BinaryHeader bin;
    bin.hdr_size = load_be64(hdr.data() + kHdrSizeOffset);
    bin.seqid = load_be64(hdr.data() + kSeqidOffset);
    bin.hdr_offset = load_be64(hdr.data() + kHdrOffsetOffset);
    bin.salt.assign(hdr.begin() + kSaltOffset, hdr.begin() + kSaltOffset + kSaltSize);
    auto label = string_field(hdr, kLabelOffset, kLabelSize, base, "label");
    auto alg = string_field(hdr, kChecksumAlgOffset, kChecksumAlgSize, base, "checksum_alg");
    auto uuid = string_field(hdr, kUuidOffset, kUuidSize, base, "uuid");
    auto subsystem = string_field(hdr, kSubsystemOffset, kSubsystemSize, base, "subsystem");
    for (const auto* field : {&label, &alg, &uuid, &subsystem}) {
        if (!*field) return std::unexpected(field->error());
    }
    bin.label = std::move(*label);
    bin.checksum_alg = std::move(*alg);
    bin.uuid = std::move(*uuid);
    bin.subsystem = std::move(*subsystem);
    if (!all_zero(hdr.subspan(kPadding1Offset, kPadding1Size)) ||
        !all_zero(hdr.subspan(kChecksumOffset + kSha256Size, kChecksumSize - kSha256Size)) ||
        !all_zero(hdr.subspan(kPadding2Offset))) {
        return fail(ErrorCode::InvalidInput, "non-zero padding in the binary header at " + where(base, 0));
    }
    return bin;
}

Result<CopyParse> parse_copy(ByteView bytes, std::size_t base, bool secondary) {
    auto hdr_size = check_fixed_fields(bytes, base, secondary);
    if (!hdr_size) return std::unexpected(hdr_size.error());
    const std::string at = secondary ? "secondary header" : "primary header";
    const ByteView copy_bytes = bytes.subspan(base, static_cast<std::size_t>(*hdr_size));
    auto sum = header_checksum(copy_bytes);
    if (!sum) return std::unexpected(sum.error());
    if (!std::equal(sum->begin(), sum->end(), copy_bytes.begin() + kChecksumOffset)) {
        return fail(ErrorCode::Tampered, at + ": checksum mismatch (sha256 over " +
                                             std::to_string(*hdr_size) + " bytes at " + where(base, 0) + ")");
    }
    auto bin = read_binary(copy_bytes.first(luks2::kBinaryHeaderSize), base);
    if (!bin) return std::unexpected(bin.error().context(at));
    const ByteView area = copy_bytes.subspan(luks2::kBinaryHeaderSize);
    auto doc = parse_json_area(area, base);
    if (!doc) return std::unexpected(doc.error().context(at));
    return CopyParse{Luks2HeaderCopy{std::move(*bin), std::move(*doc)}, area};
}

// The seqid may differ (libcryptsetup loads the higher one and repairs the
// other): with byte-identical JSON areas both copies say the same.
bool same_apart_from_salt_and_seqid(const Luks2BinaryHeader& a, const Luks2BinaryHeader& b) noexcept {
    return a.hdr_size == b.hdr_size && a.label == b.label && a.checksum_alg == b.checksum_alg && a.uuid == b.uuid &&
           a.subsystem == b.subsystem;
}

Result<void> put_string(Bytes& out, std::size_t at, std::size_t size, const std::string& s,
                        const char* name) {
    if (s.size() >= size || s.find('\0') != std::string::npos) {
        return fail(ErrorCode::InvalidInput, std::string(name) + " must be shorter than " +
                                                 std::to_string(size) + " bytes, without NUL");
    }
    std::memcpy(out.data() + at, s.data(), s.size());
    return {};
}

Result<void> write_copy(Bytes& out, std::size_t base, const Luks2BinaryHeader& bin,
                        const std::string& json_text, bool secondary) {
    const auto& magic = secondary ? kMagicSecondary : kMagicPrimary;
    std::uint8_t* p = out.data() + base;
    std::copy(magic.begin(), magic.end(), p + kMagicOffset);
    store_be16(p + kVersionOffset, kVersion);
    store_be64(p + kHdrSizeOffset, bin.hdr_size);
    store_be64(p + kSeqidOffset, bin.seqid);
    store_be64(p + kHdrOffsetOffset, bin.hdr_offset);
    if (!bin.salt.empty() && bin.salt.size() != kSaltSize) {
        return fail(ErrorCode::InvalidInput, "salt must be 64 bytes or empty");
    }
    std::copy(bin.salt.begin(), bin.salt.end(), p + kSaltOffset);
    for (auto r : {put_string(out, base + kLabelOffset, kLabelSize, bin.label, "label"),
                   put_string(out, base + kChecksumAlgOffset, kChecksumAlgSize, bin.checksum_alg, "checksum_alg"),
                   put_string(out, base + kUuidOffset, kUuidSize, bin.uuid, "uuid"),
                   put_string(out, base + kSubsystemOffset, kSubsystemSize, bin.subsystem, "subsystem")}) {
        if (!r) return r;
    }
    const std::size_t area_size = static_cast<std::size_t>(bin.hdr_size) - luks2::kBinaryHeaderSize;
    if (json_text.size() >= area_size) {
        return fail(ErrorCode::InvalidInput, "JSON text of " + std::to_string(json_text.size()) +
                                                 " bytes does not fit a " + std::to_string(area_size) +
                                                 "-byte JSON area with its NUL");
    }
    std::memcpy(p + luks2::kBinaryHeaderSize, json_text.data(), json_text.size());
    auto sum = header_checksum(ByteView(p, static_cast<std::size_t>(bin.hdr_size)));
    if (!sum) return std::unexpected(sum.error());
    std::copy(sum->begin(), sum->end(), p + kChecksumOffset);
    return {};
}

}  // namespace

Luks2CopyId Luks2Header::newer() const noexcept {
    return secondary && secondary->binary.seqid > primary.binary.seqid ? Luks2CopyId::Secondary
                                                                       : Luks2CopyId::Primary;
}

const Luks2HeaderCopy& Luks2Header::active() const noexcept {
    return newer() == Luks2CopyId::Secondary ? *secondary : primary;
}

Result<Luks2Header> parse_luks2_header(ByteView bytes) {
    auto primary = parse_copy(bytes, 0, false);
    if (!primary) return std::unexpected(primary.error());
    Luks2Header header;
    header.primary = std::move(primary->copy);
    const auto hdr_size = static_cast<std::size_t>(header.primary.binary.hdr_size);
    if (bytes.size() <= hdr_size) {
        header.secondary_error = Error(ErrorCode::NotFound, "secondary header: input ends at offset " +
                                                                std::to_string(bytes.size()) + ", before it");
        return header;
    }
    auto secondary = parse_copy(bytes, hdr_size, true);
    if (!secondary) {
        header.secondary_error = secondary.error();
        return header;
    }
    header.copies_identical = same_apart_from_salt_and_seqid(header.primary.binary, secondary->copy.binary) &&
                              std::ranges::equal(primary->json_area, secondary->json_area);
    header.secondary = std::move(secondary->copy);
    return header;
}

Result<Bytes> serialize_luks2_header(const Luks2Header& header) {
    const Luks2BinaryHeader& bin = header.primary.binary;
    if (!valid_hdr_size(bin.hdr_size)) {
        return fail(ErrorCode::InvalidInput, "hdr_size " + std::to_string(bin.hdr_size) +
                                                 " is not a power of two in 16 KiB..4 MiB");
    }
    if (header.secondary && header.secondary->binary.hdr_size != bin.hdr_size) {
        return fail(ErrorCode::InvalidInput, "the secondary's hdr_size differs from the primary's");
    }
    const auto dump = [](const nlohmann::json& j) {
        return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    Bytes out(static_cast<std::size_t>(2 * bin.hdr_size), 0);
    if (auto r = write_copy(out, 0, bin, dump(header.primary.metadata), false); !r) {
        return std::unexpected(r.error().context("primary header"));
    }
    Luks2HeaderCopy secondary = header.secondary.value_or(header.primary);
    if (!header.secondary) secondary.binary.hdr_offset = bin.hdr_size;
    if (auto r = write_copy(out, static_cast<std::size_t>(bin.hdr_size), secondary.binary,
                            dump(secondary.metadata), true);
        !r) {
        return std::unexpected(r.error().context("secondary header"));
    }
    return out;
}

}  // namespace cvmunlock
