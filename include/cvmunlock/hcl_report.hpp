// The Azure confidential-VM "HCL report" that the paravisor writes to vTPM NV
// index 0x01400001: a 0x20-byte header ("HCLA"), the hardware SNP report at 0x20,
// the IGVM request data at 0x4C0 and its variable part (the runtime-claims JSON)
// at 0x4D4. report_data[0:32] of the SNP report is SHA-256 of that JSON.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"
#include "cvmunlock/snp_report.hpp"

namespace cvmunlock::hcl {

inline constexpr std::uint32_t kNvIndex = 0x01400001;
inline constexpr std::uint32_t kAkPersistentHandle = 0x81000003;
inline constexpr std::size_t kHeaderSize = 0x20;
inline constexpr std::size_t kHwReportOffset = 0x20;
inline constexpr std::size_t kRequestDataOffset = 0x4C0;
inline constexpr std::size_t kRequestDataHeaderSize = 20;
inline constexpr std::size_t kRuntimeDataOffset = 0x4D4;
inline constexpr std::uint32_t kReportTypeSnp = 2;
inline constexpr std::uint32_t kHashTypeSha256 = 1;

// True when the bytes start with the "HCLA" signature (used to tell an HCL
// report from a raw SNP report).
bool looks_like_hcl(ByteView bytes) noexcept;

struct HclReport {
    std::uint32_t header_version = 0;
    std::uint32_t report_size = 0;
    std::uint32_t request_type = 0;
    std::uint32_t status = 0;
    Bytes hw_report;  // kReportSize bytes, the raw SNP report (signed part intact)
    snp::Report snp;  // parsed hw_report
    std::uint32_t data_size = 0;
    std::uint32_t data_version = 0;
    std::uint32_t report_type = kReportTypeSnp;
    std::uint32_t hash_type = kHashTypeSha256;
    std::string runtime_json;  // the variable data, exactly as hashed
};

// InvalidInput naming the offset/field: short input, bad signature, report type
// not SNP, variable data past the end, hw report malformed. Bytes after the
// variable data (NV index padding) are ignored.
Result<HclReport> parse_hcl_report(ByteView bytes);
Bytes serialize_hcl_report(const HclReport& report);

// The RSA public key HCLAkPub from the runtime JSON (JWK "n" and "e", base64url),
// as big-endian modulus and exponent.
struct RsaPublic {
    Bytes modulus;
    Bytes exponent;
};
Result<RsaPublic> ak_public_from_runtime(const std::string& runtime_json);

// report_data[0:32] == SHA-256(runtime_json): Tampered (naming both digests) when not.
Result<void> check_runtime_hash(const HclReport& report);

}  // namespace cvmunlock::hcl
