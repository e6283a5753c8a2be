// Builders for the event-data structures firmware, shim, grub and the Linux
// EFI stub put into measured-boot event logs, used to assemble the synthetic
// benchmark log. Layouts: TCG PC Client Platform Firmware Profile (PFP) 1.05
// section 10 (UEFI_VARIABLE_DATA, UEFI_IMAGE_LOAD_EVENT, UEFI_GPT_DATA,
// UEFI_PLATFORM_FIRMWARE_BLOB, UEFI_HANDOFF_TABLE_POINTERS,
// TCG_PCClientTaggedEvent) and UEFI 2.10 (EFI_GUID, EFI_SIGNATURE_LIST,
// EFI_LOAD_OPTION, device paths, GPT).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "cvmunlock/bytes.hpp"

namespace cvmunlock::bench {

// EFI_GUID bytes (first three fields little-endian) from the 8-4-4-4-12 text form.
// The text must be well formed; the builders only use literals below.
Bytes guid(std::string_view text);

namespace guids {
inline constexpr std::string_view kGlobalVariable = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
inline constexpr std::string_view kImageSecurityDatabase = "d719b2cb-3d3a-4596-a3bc-dad00e67656f";
inline constexpr std::string_view kShimLock = "605dab50-e046-4300-abb6-3dd810dd8b23";
inline constexpr std::string_view kCertX509 = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072";
inline constexpr std::string_view kCertSha256 = "c1c41626-504c-4092-aca9-41f936934328";
inline constexpr std::string_view kMicrosoftOwner = "77fa9abd-0359-4d32-bd60-28f4e78f784b";
inline constexpr std::string_view kSmbios3Table = "f2fd1544-9794-4a2c-992e-e5bbcf20e394";
inline constexpr std::string_view kEfiSystemPartition = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
inline constexpr std::string_view kBiosBootPartition = "21686148-6449-6e6f-744e-656564454649";
inline constexpr std::string_view kLinuxFilesystem = "0fc63daf-8483-4772-8e79-3d69d8477de4";
}  // namespace guids

// ASCII as CHAR16 (UTF-16LE), optionally NUL-terminated.
Bytes utf16le(std::string_view ascii, bool nul_terminated);

// SplitMix64 step (Steele, Lea, Flood 2014): a fixed, portable generator, so
// the output does not depend on the standard library's distributions.
std::uint64_t splitmix64(std::uint64_t& state);

// Deterministic stand-in content (SHA-256 in counter mode over `label`): file
// contents, images, certificates.
Bytes filler(std::string_view label, std::size_t size);

// UEFI_VARIABLE_DATA: VariableName(16) UnicodeNameLength(8) VariableDataLength(8)
// UnicodeName[] (CHAR16, no NUL, as EDK2 logs it) VariableData[].
Bytes uefi_variable(std::string_view guid_text, std::string_view name, ByteView data);

// One EFI_SIGNATURE_LIST (UEFI 2.10 section 32.4.1) with SignatureHeaderSize 0
// and every entry an EFI_SIGNATURE_DATA {SignatureOwner(16), SignatureData}
// of the same size.
Bytes signature_list(std::string_view type_guid, std::string_view owner_guid,
                     const std::vector<Bytes>& signatures);

// Stand-in for a DER X.509 certificate of `size` bytes: a DER SEQUENCE header
// over filler. Nothing on the replay path parses certificates.
Bytes certificate_stand_in(std::string_view subject, std::size_t size);

// Device-path nodes (UEFI 2.10 section 10.3), appended to `path`.
void append_pci_root(Bytes& path);
void append_pci(Bytes& path, std::uint8_t device, std::uint8_t function);
struct GptPartition {
    std::uint32_t number = 0;
    std::uint64_t first_lba = 0;
    std::uint64_t last_lba = 0;
    std::string_view type_guid;
    std::string_view unique_guid;
    std::string_view name;
};
void append_hard_drive(Bytes& path, const GptPartition& partition);
void append_file_path(Bytes& path, std::string_view windows_style_path);
void append_fv_file(Bytes& path, std::string_view fv_guid, std::string_view file_guid);
void append_end(Bytes& path);

// EFI_LOAD_OPTION (UEFI 2.10 section 3.1.3), no OptionalData.
Bytes load_option(std::uint32_t attributes, std::string_view description, ByteView device_path);

// UEFI_IMAGE_LOAD_EVENT (PFP section 10).
Bytes image_load_event(std::uint64_t location, std::uint64_t length, ByteView device_path);

// UEFI_PLATFORM_FIRMWARE_BLOB (PFP section 10).
Bytes firmware_blob(std::uint64_t base, std::uint64_t length);

// UEFI_HANDOFF_TABLE_POINTERS (PFP section 10) with one table.
Bytes handoff_table(std::string_view vendor_guid, std::uint64_t address);

// UEFI_GPT_DATA (PFP section 10): the GPT header as read from LBA 1 (CRCs valid
// for a 128-entry array), NumberOfPartitions, then the used 128-byte entries.
Bytes gpt_event(std::string_view disk_guid, std::uint64_t disk_sectors, const std::vector<GptPartition>& partitions);

// TCG_PCClientTaggedEvent (PFP section 10): taggedEventID(4) taggedEventDataSize(4) data.
Bytes tagged_event(std::uint32_t tag, ByteView data);

}  // namespace cvmunlock::bench
