// Measured-boot event log: model, parser and serializer.
// Layouts: TCG PC Client Platform Firmware Profile (PFP) 1.05, section 10
// (TCG_PCR_EVENT, TCG_PCR_EVENT2, TCG_EfiSpecIdEvent).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"

namespace cvmunlock {

// PFP Table 9 (event types) - the ones the code treats specially.
namespace event_type {
inline constexpr std::uint32_t kPrebootCert = 0x0;
inline constexpr std::uint32_t kPostCode = 0x1;
inline constexpr std::uint32_t kNoAction = 0x3;
inline constexpr std::uint32_t kSeparator = 0x4;
inline constexpr std::uint32_t kAction = 0x5;
inline constexpr std::uint32_t kEventTag = 0x6;
inline constexpr std::uint32_t kSCrtmContents = 0x7;
inline constexpr std::uint32_t kSCrtmVersion = 0x8;
inline constexpr std::uint32_t kCpuMicrocode = 0x9;
inline constexpr std::uint32_t kPlatformConfigFlags = 0xA;
inline constexpr std::uint32_t kTableOfDevices = 0xB;
inline constexpr std::uint32_t kCompactHash = 0xC;
inline constexpr std::uint32_t kIpl = 0xD;
inline constexpr std::uint32_t kIplPartitionData = 0xE;
inline constexpr std::uint32_t kNonhostCode = 0xF;
inline constexpr std::uint32_t kNonhostConfig = 0x10;
inline constexpr std::uint32_t kNonhostInfo = 0x11;
inline constexpr std::uint32_t kOmitBootDeviceEvents = 0x12;
inline constexpr std::uint32_t kEfiVariableDriverConfig = 0x80000001;
inline constexpr std::uint32_t kEfiVariableBoot = 0x80000002;
inline constexpr std::uint32_t kEfiBootServicesApplication = 0x80000003;
inline constexpr std::uint32_t kEfiBootServicesDriver = 0x80000004;
inline constexpr std::uint32_t kEfiRuntimeServicesDriver = 0x80000005;
inline constexpr std::uint32_t kEfiGptEvent = 0x80000006;
inline constexpr std::uint32_t kEfiAction = 0x80000007;
inline constexpr std::uint32_t kEfiPlatformFirmwareBlob = 0x80000008;
inline constexpr std::uint32_t kEfiHandoffTables = 0x80000009;
inline constexpr std::uint32_t kEfiPlatformFirmwareBlob2 = 0x8000000A;
inline constexpr std::uint32_t kEfiHandoffTables2 = 0x8000000B;
inline constexpr std::uint32_t kEfiVariableBoot2 = 0x8000000C;
inline constexpr std::uint32_t kEfiGptEvent2 = 0x8000000D;
inline constexpr std::uint32_t kEfiHcrtmEvent = 0x80000010;
inline constexpr std::uint32_t kEfiVariableAuthority = 0x800000E0;
inline constexpr std::uint32_t kEfiSpdmFirmwareBlob = 0x800000E1;
inline constexpr std::uint32_t kEfiSpdmFirmwareConfig = 0x800000E2;
}  // namespace event_type

inline constexpr std::uint32_t kPcrCount = 24;  // PC Client PTP: PCR 0..23

enum class LogFormat {
    Legacy,       // TCG 1.2 style: every record a TCG_PCR_EVENT with one SHA-1 digest
    CryptoAgile,  // TCG_PCR_EVENT Spec ID header, then TCG_PCR_EVENT2 records
};

struct SpecIdAlgorithm {
    std::uint16_t alg_id = 0;
    std::uint16_t digest_size = 0;
};

// TCG_EfiSpecIdEvent (PFP 10.4.5.1).
struct SpecIdEvent {
    std::uint32_t platform_class = 0;
    std::uint8_t version_minor = 0;
    std::uint8_t version_major = 2;
    std::uint8_t errata = 0;
    std::uint8_t uintn_size = 2;  // 1 = UINT32, 2 = UINT64
    std::vector<SpecIdAlgorithm> algorithms;
    Bytes vendor_info;
};

struct EventDigest {
    std::uint16_t alg_id = 0;
    Bytes digest;
};

struct Event {
    std::size_t offset = 0;  // byte offset of the record in the log
    std::uint32_t pcr = 0;
    std::uint32_t type = 0;
    std::vector<EventDigest> digests;
    Bytes data;
};

struct EventLog {
    LogFormat format = LogFormat::CryptoAgile;
    std::optional<SpecIdEvent> spec_id;  // set for CryptoAgile
    std::vector<Event> events;           // every record, the Spec ID header (record 0) included
    std::size_t trailing_padding = 0;    // 0x00/0xFF bytes after the last record
};

// Parses a whole log. Digest sizes come only from the Spec ID event. Every
// length is bounds-checked; malformed input gives ErrorCode::InvalidInput with
// the byte offset in the message.
Result<EventLog> parse_event_log(ByteView data);

// Writes the log back in its own format (records only, no padding). Parsing
// the output gives an equal log.
Bytes serialize_event_log(const EventLog& log);

// Builds the Spec ID header record for a crypto-agile log.
Event make_spec_id_record(const SpecIdEvent& spec);

// EV_NO_ACTION "StartupLocality" (PFP 10.4.5.3): locality when the record is one.
std::optional<std::uint8_t> startup_locality_of(const Event& event);

}  // namespace cvmunlock
