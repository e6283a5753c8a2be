// LUKS2 on-disk metadata: binary header + JSON area (LUKS2 On-Disk Format
// Specification, sections 2 and 3). Parsing, serializing, and the
// confidential-VM validation of what libcryptsetup will activate from.
//
// The host writes the disk, so every byte here is attacker-controlled. The
// parser checks structure only; validate_luks2_* judge the content. See
// docs/header-validation.md for what is checked, why, and what is not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"

namespace cvmunlock {

namespace luks2 {
// LUKS2 spec 2.1: each header copy is a 4096-byte binary header followed by
// the JSON area; hdr_size (both together) is a power of two in 16 KiB..4 MiB.
inline constexpr std::size_t kBinaryHeaderSize = 4096;
inline constexpr std::uint64_t kMinHdrSize = 0x4000;
inline constexpr std::uint64_t kMaxHdrSize = 0x400000;
// libcryptsetup limits (lib/luks2/luks2.h): LUKS2_KEYSLOTS_MAX, LUKS2_MAX_KEYSLOTS_SIZE.
inline constexpr int kMaxKeyslots = 32;
inline constexpr std::uint64_t kMaxKeyslotsSize = 0x8000000;
}  // namespace luks2

// One binary header (LUKS2 spec 2.1, Table 1), without magic, version and
// checksum: the magic follows from the copy's position, the version is 2 and
// the checksum is recomputed by the serializer.
struct Luks2BinaryHeader {
    std::uint64_t hdr_size = luks2::kMinHdrSize;  // binary header + JSON area of one copy
    std::uint64_t seqid = 0;                      // bumped on every metadata write
    std::string label;                            // at most 47 bytes
    std::string checksum_alg = "sha256";          // the only one accepted
    Bytes salt;                                   // 64 bytes; empty is written as zeros
    std::string uuid;                             // at most 39 bytes
    std::string subsystem;                        // at most 47 bytes
    std::uint64_t hdr_offset = 0;                 // 0 for the primary, hdr_size for the secondary
};

struct Luks2HeaderCopy {
    Luks2BinaryHeader binary;
    nlohmann::json metadata;  // the JSON area (text up to its NUL terminator), parsed
};

enum class Luks2CopyId { Primary, Secondary };

struct Luks2Header {
    Luks2HeaderCopy primary;
    // The copy at offset hdr_size; nullopt when the input ends before it or it
    // is damaged (secondary_error says why). validate_luks2_header refuses both.
    std::optional<Luks2HeaderCopy> secondary;
    std::optional<Error> secondary_error;
    // Set by the parser (ignored by the serializer): both copies present, with the same
    // hdr_size, label, checksum_alg, uuid, subsystem and a byte-identical JSON area (the
    // seqid may differ: whichever copy libcryptsetup loads, it loads the same metadata).
    bool copies_identical = false;

    // The copy libcryptsetup loads when both are valid: the higher seqid, the
    // primary on a tie (lib/luks2/luks2_disk_metadata.c, LUKS2_disk_hdr_read).
    [[nodiscard]] Luks2CopyId newer() const noexcept;
    [[nodiscard]] const Luks2HeaderCopy& active() const noexcept;
};

// Parses the primary header at offset 0 and, when `bytes` reaches that far,
// the secondary at hdr_size. The primary must be valid: magic "LUKS\xba\xbe",
// version 2, hdr_size a power of two in 16K..4M, checksum_alg "sha256",
// hdr_offset 0, zero padding, a NUL-terminated JSON object and a matching
// SHA-256 checksum. InvalidInput for structure, Tampered for a checksum mismatch.
Result<Luks2Header> parse_luks2_header(ByteView bytes);

// Writes 2 * primary.binary.hdr_size bytes: the primary at 0 and the secondary
// at hdr_size (from `secondary` when set, else derived from the primary with
// hdr_offset = hdr_size), each with its SHA-256 checksum recomputed. The JSON area is
// metadata.dump() (compact, keys sorted) padded with NULs; config.json_size is
// written as given. InvalidInput when a field or the JSON does not fit.
Result<Bytes> serialize_luks2_header(const Luks2Header& header);

// A cipher as written in LUKS2 JSON ("aes-xts-plain64") with its key size in bytes.
struct Luks2Cipher {
    std::string encryption;
    std::uint32_t key_size = 0;
    friend bool operator==(const Luks2Cipher&, const Luks2Cipher&) = default;
};

// What the validator accepts. A default-constructed policy is the recommended
// one; an emptied list refuses everything of that kind. Null ciphers
// ("cipher_null...", "null", anything containing "null") are refused whatever
// the lists say.
struct Luks2Policy {
    // segments.0.encryption with the volume-key size (the bound keyslots' key_size).
    std::vector<Luks2Cipher> segment_ciphers{{"aes-xts-plain64", 64}};
    // keyslots.N.area.encryption with area.key_size.
    std::vector<Luks2Cipher> keyslot_area_ciphers{{"aes-xts-plain64", 64}};
    // keyslots.N.kdf: "pbkdf2-<hash>" for PBKDF2, else the kdf type.
    std::vector<std::string> keyslot_kdfs{"pbkdf2-sha256", "pbkdf2-sha512", "argon2i", "argon2id"};
    // keyslots.N.af.hash (anti-forensic splitter) and digests.N.hash.
    std::vector<std::string> hashes{"sha256", "sha512"};
};

// Validates the LUKS2 JSON metadata libcryptsetup activates from (the JSON area,
// or crypt_dump_json() of a loaded device). When `required_keyslot` is set, that
// keyslot must exist and be bound to segment 0 by the only digest.
// InvalidInput for a missing field or a wrong JSON type (64-bit numbers must be
// decimal strings, others JSON integers); PolicyRefused for everything else. The
// message names the object and field: `keyslots.1.area.encryption: ...`.
// keyslots.<keyslot>.area's offset and size (decimal strings), parsed as the
// validator parses them; nothing else about the area is checked here.
struct Luks2Area {
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
};
Result<Luks2Area> luks2_keyslot_area(const nlohmann::json& metadata, int keyslot);

Result<void> validate_luks2_metadata(const nlohmann::json& metadata, const Luks2Policy& policy,
                                     std::optional<int> required_keyslot);

// validate_luks2_metadata on header.active(), after checking that the secondary
// is present and identical to the primary (copies_identical: otherwise which copy
// libcryptsetup loads is the host's choice) and that config.json_size is
// hdr_size - 4096. Parse at least 2 * hdr_size bytes.
Result<void> validate_luks2_header(const Luks2Header& header, const Luks2Policy& policy,
                                   std::optional<int> required_keyslot);

}  // namespace cvmunlock
