// The certificate table that the host hands out with an extended report
// (SNP_GET_EXT_REPORT's certs buffer, configfs-tsm's auxblob). GHCB spec v2,
// "SNP Extended Guest Request" (NAE event 0x8000_0012): entries of {GUID 16 bytes,
// u32 offset, u32 length} (little-endian), terminated by an all-zero entry;
// offsets are from the start of the table; the certificates are DER.
// The GUID bytes are in the order the text form is written (uuid_parse order).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"
#include "cvmunlock/snp_verify.hpp"

namespace cvmunlock::snp {

using Guid = std::array<std::uint8_t, 16>;

inline constexpr std::size_t kCertTableEntrySize = 24;
inline constexpr std::size_t kCertEntryOffsetField = 16;
inline constexpr std::size_t kCertEntryLengthField = 20;

// The GUIDs the GHCB spec assigns to the AMD certificates.
inline constexpr const char* kVcekGuid = "63da758d-e664-4564-adc5-f4b93be8accd";
inline constexpr const char* kVlekGuid = "a8074bc2-a25a-483e-aae6-39c045a0b8a1";
inline constexpr const char* kAskGuid = "4ab7b379-bbac-4fe4-a02f-05aef327c782";
inline constexpr const char* kArkGuid = "c0b406a4-a803-4952-9743-3fb6014cd0ae";

std::optional<Guid> guid_from_string(const std::string& text);
std::string guid_to_string(const Guid& guid);
// The role a GUID stands for (Vcek, Vlek, Ask, Ark), Unknown for any other GUID.
CertRole cert_role_for_guid(const Guid& guid);

struct CertTableEntry {
    Guid guid{};
    CertRole role = CertRole::Unknown;
    Bytes der;
};

// An empty or all-zero blob is an empty table (the host supplied no
// certificates). InvalidInput naming `what` and the offset when the table has
// no terminator, or an entry points outside the blob or into the table.
Result<std::vector<CertTableEntry>> parse_cert_table(ByteView blob, const std::string& what);

// The inverse, for fakes and tests: the table, its terminator, then the certificates.
Bytes build_cert_table(const std::vector<CertTableEntry>& entries);

// The DER certificates of the entries with a known role, in table order (what
// Evidence::certs carries; unknown GUIDs such as a CRL are left out).
std::vector<Bytes> known_certificates(const std::vector<CertTableEntry>& entries);

}  // namespace cvmunlock::snp
