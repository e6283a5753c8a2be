#include "uefi_payloads.hpp"

#include <zlib.h>

#include <algorithm>
#include <string>

namespace cvmunlock::bench {

namespace {

// UEFI 2.10 section 10.3.1: every device-path node starts Type(1) SubType(1) Length(2).
constexpr std::uint8_t kHardwareDevicePath = 0x01;
constexpr std::uint8_t kAcpiDevicePath = 0x02;
constexpr std::uint8_t kMediaDevicePath = 0x04;
constexpr std::uint8_t kEndDevicePath = 0x7F;
constexpr std::uint8_t kSubtypePci = 0x01;
constexpr std::uint8_t kSubtypeAcpi = 0x01;
constexpr std::uint8_t kSubtypeHardDrive = 0x01;
constexpr std::uint8_t kSubtypeFilePath = 0x04;
constexpr std::uint8_t kSubtypeFvFile = 0x06;
constexpr std::uint8_t kSubtypeFv = 0x07;
constexpr std::uint8_t kSubtypeEndEntire = 0xFF;
constexpr std::uint32_t kPnp0A03 = 0x0A0341D0;  // EISA_PNP_ID(0x0A03): PCI root bridge
constexpr std::uint8_t kMbrTypeGpt = 0x02;
constexpr std::uint8_t kSignatureTypeGuid = 0x02;

// UEFI 2.10 section 5.3.2, GPT header: Signature(8) Revision(4) HeaderSize(4)
// HeaderCRC32(4) Reserved(4) MyLBA(8) AlternateLBA(8) FirstUsableLBA(8)
// LastUsableLBA(8) DiskGUID(16) PartitionEntryLBA(8) NumberOfPartitionEntries(4)
// SizeOfPartitionEntry(4) PartitionEntryArrayCRC32(4) = 92 bytes.
constexpr std::uint32_t kGptRevision = 0x00010000;
constexpr std::uint32_t kGptHeaderSize = 92;
constexpr std::size_t kGptHeaderCrcOffset = 16;
constexpr std::uint32_t kGptEntryCount = 128;
constexpr std::uint32_t kGptEntrySize = 128;  // TypeGUID(16) UniqueGUID(16) First(8) Last(8) Attrs(8) Name(72)
constexpr std::size_t kGptNameChars = 36;
constexpr std::uint64_t kGptFirstUsableLba = 34;

void append(Bytes& out, ByteView v) { out.insert(out.end(), v.begin(), v.end()); }

void append_node(Bytes& path, std::uint8_t type, std::uint8_t subtype, ByteView body) {
    path.push_back(type);
    path.push_back(subtype);
    append_le16(path, static_cast<std::uint16_t>(4 + body.size()));
    append(path, body);
}

std::uint32_t crc32_of(ByteView data) {
    return static_cast<std::uint32_t>(::crc32(0L, data.data(), static_cast<uInt>(data.size())));
}

Bytes gpt_entry(const GptPartition& p) {
    Bytes e;
    append(e, guid(p.type_guid));
    append(e, guid(p.unique_guid));
    append_le64(e, p.first_lba);
    append_le64(e, p.last_lba);
    append_le64(e, 0);  // Attributes
    Bytes name = utf16le(p.name.substr(0, kGptNameChars), false);
    name.resize(kGptNameChars * 2, 0);
    append(e, name);
    return e;
}

}  // namespace

std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

Bytes guid(std::string_view text) {
    std::string hex;
    for (char c : text) {
        if (c != '-') hex.push_back(c);
    }
    Bytes b = from_hex(hex).value_or(Bytes(16, 0));
    b.resize(16, 0);
    std::reverse(b.begin(), b.begin() + 4);      // Data1, UINT32
    std::reverse(b.begin() + 4, b.begin() + 6);  // Data2, UINT16
    std::reverse(b.begin() + 6, b.begin() + 8);  // Data3, UINT16
    return b;
}

Bytes utf16le(std::string_view ascii, bool nul_terminated) {
    Bytes out;
    out.reserve((ascii.size() + 1) * 2);
    for (char c : ascii) append_le16(out, static_cast<std::uint8_t>(c));
    if (nul_terminated) append_le16(out, 0);
    return out;
}

Bytes filler(std::string_view label, std::size_t size) {
    std::uint64_t state = 0xCBF29CE484222325ULL;  // FNV-1a offset basis, then FNV-1a over the label
    for (char c : label) state = (state ^ static_cast<std::uint8_t>(c)) * 0x100000001B3ULL;
    Bytes out;
    out.reserve(size + 8);
    while (out.size() < size) append_le64(out, splitmix64(state));
    out.resize(size);
    return out;
}

Bytes uefi_variable(std::string_view guid_text, std::string_view name, ByteView data) {
    Bytes out = guid(guid_text);
    append_le64(out, name.size());
    append_le64(out, data.size());
    append(out, utf16le(name, false));
    append(out, data);
    return out;
}

Bytes signature_list(std::string_view type_guid, std::string_view owner_guid, const std::vector<Bytes>& signatures) {
    const std::size_t data_size = signatures.empty() ? 0 : signatures.front().size();
    const std::size_t entry_size = 16 + data_size;
    // EFI_SIGNATURE_LIST: SignatureType(16) SignatureListSize(4) SignatureHeaderSize(4) SignatureSize(4)
    Bytes out = guid(type_guid);
    append_le32(out, static_cast<std::uint32_t>(28 + entry_size * signatures.size()));
    append_le32(out, 0);
    append_le32(out, static_cast<std::uint32_t>(entry_size));
    const Bytes owner = guid(owner_guid);
    for (const Bytes& s : signatures) {
        append(out, owner);
        append(out, s);
    }
    return out;
}

Bytes certificate_stand_in(std::string_view subject, std::size_t size) {
    // DER: SEQUENCE (0x30) with a two-byte long-form length (0x82 hi lo).
    Bytes out{0x30, 0x82, static_cast<std::uint8_t>((size - 4) >> 8), static_cast<std::uint8_t>(size - 4)};
    append(out, filler(subject, size - 4));
    return out;
}

void append_pci_root(Bytes& path) {
    Bytes body;
    append_le32(body, kPnp0A03);
    append_le32(body, 0);  // UID
    append_node(path, kAcpiDevicePath, kSubtypeAcpi, body);
}

void append_pci(Bytes& path, std::uint8_t device, std::uint8_t function) {
    const Bytes body{function, device};
    append_node(path, kHardwareDevicePath, kSubtypePci, body);
}

void append_hard_drive(Bytes& path, const GptPartition& partition) {
    Bytes body;
    append_le32(body, partition.number);
    append_le64(body, partition.first_lba);
    append_le64(body, partition.last_lba - partition.first_lba + 1);
    append(body, guid(partition.unique_guid));
    body.push_back(kMbrTypeGpt);
    body.push_back(kSignatureTypeGuid);
    append_node(path, kMediaDevicePath, kSubtypeHardDrive, body);
}

void append_file_path(Bytes& path, std::string_view windows_style_path) {
    append_node(path, kMediaDevicePath, kSubtypeFilePath, utf16le(windows_style_path, true));
}

void append_fv_file(Bytes& path, std::string_view fv_guid, std::string_view file_guid) {
    append_node(path, kMediaDevicePath, kSubtypeFv, guid(fv_guid));
    append_node(path, kMediaDevicePath, kSubtypeFvFile, guid(file_guid));
}

void append_end(Bytes& path) { append_node(path, kEndDevicePath, kSubtypeEndEntire, {}); }

Bytes load_option(std::uint32_t attributes, std::string_view description, ByteView device_path) {
    Bytes out;
    append_le32(out, attributes);
    append_le16(out, static_cast<std::uint16_t>(device_path.size()));
    append(out, utf16le(description, true));
    append(out, device_path);
    return out;
}

Bytes image_load_event(std::uint64_t location, std::uint64_t length, ByteView device_path) {
    Bytes out;
    append_le64(out, location);
    append_le64(out, length);
    append_le64(out, 0);  // ImageLinkTimeAddress: 0 for PE images relocated by the loader
    append_le64(out, device_path.size());
    append(out, device_path);
    return out;
}

Bytes firmware_blob(std::uint64_t base, std::uint64_t length) {
    Bytes out;
    append_le64(out, base);
    append_le64(out, length);
    return out;
}

Bytes handoff_table(std::string_view vendor_guid, std::uint64_t address) {
    Bytes out;
    append_le64(out, 1);  // NumberOfTables
    append(out, guid(vendor_guid));
    append_le64(out, address);
    return out;
}

Bytes gpt_event(std::string_view disk_guid, std::uint64_t disk_sectors, const std::vector<GptPartition>& partitions) {
    Bytes array(static_cast<std::size_t>(kGptEntryCount) * kGptEntrySize, 0);
    Bytes used;
    for (const GptPartition& p : partitions) {
        const Bytes e = gpt_entry(p);
        std::copy(e.begin(), e.end(), array.begin() + static_cast<std::ptrdiff_t>((p.number - 1) * kGptEntrySize));
    }
    // EDK2 logs the used entries in array order.
    for (std::uint32_t i = 0; i < kGptEntryCount; ++i) {
        const auto first = array.begin() + static_cast<std::ptrdiff_t>(i * kGptEntrySize);
        if (std::any_of(first, first + 16, [](std::uint8_t b) { return b != 0; })) {
            used.insert(used.end(), first, first + kGptEntrySize);
        }
    }
    const std::uint64_t array_sectors = kGptEntryCount * kGptEntrySize / 512;
    Bytes h{'E', 'F', 'I', ' ', 'P', 'A', 'R', 'T'};
    append_le32(h, kGptRevision);
    append_le32(h, kGptHeaderSize);
    append_le32(h, 0);  // HeaderCRC32, filled below
    append_le32(h, 0);  // Reserved
    append_le64(h, 1);  // MyLBA
    append_le64(h, disk_sectors - 1);
    append_le64(h, kGptFirstUsableLba);
    append_le64(h, disk_sectors - 2 - array_sectors);
    append(h, guid(disk_guid));
    append_le64(h, 2);  // PartitionEntryLBA
    append_le32(h, kGptEntryCount);
    append_le32(h, kGptEntrySize);
    append_le32(h, crc32_of(array));
    const std::uint32_t header_crc = crc32_of(h);
    Bytes crc;
    append_le32(crc, header_crc);
    std::copy(crc.begin(), crc.end(), h.begin() + kGptHeaderCrcOffset);
    append_le64(h, used.size() / kGptEntrySize);
    append(h, used);
    return h;
}

Bytes tagged_event(std::uint32_t tag, ByteView data) {
    Bytes out;
    append_le32(out, tag);
    append_le32(out, static_cast<std::uint32_t>(data.size()));
    append(out, data);
    return out;
}

}  // namespace cvmunlock::bench
