// AMD SEV-SNP ATTESTATION_REPORT (SEV-SNP Firmware ABI spec, rev 1.55+, Table 23
// "ATTESTATION_REPORT Structure"; versions 2, 3 and 5, always 0x4A0 bytes).
// The parser checks structure only (size, version, must-be-zero fields); what is
// acceptable is judged by snp_policy and snp_verify.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"

namespace cvmunlock::snp {

inline constexpr std::size_t kReportSize = 0x4A0;
inline constexpr std::size_t kSignedSize = 0x2A0;  // ECDSA P-384/SHA-384 over 0x000..0x29F
inline constexpr std::size_t kSignatureOffset = 0x2A0;
inline constexpr std::size_t kSignatureComponentSize = 72;  // R and S, little-endian, zero-padded
inline constexpr std::uint32_t kSignatureAlgoEcdsaP384Sha384 = 1;

// Guest policy bits (ABI spec Table 9 "Guest Policy Structure").
namespace policy_bit {
inline constexpr std::uint64_t kSmt = 1ULL << 16;
inline constexpr std::uint64_t kReserved1 = 1ULL << 17;  // must be one
inline constexpr std::uint64_t kMigrateMa = 1ULL << 18;
inline constexpr std::uint64_t kDebug = 1ULL << 19;
inline constexpr std::uint64_t kSingleSocket = 1ULL << 20;
}  // namespace policy_bit

// PLATFORM_INFO bits (ABI spec Table 23).
namespace platform_bit {
inline constexpr std::uint64_t kSmtEnabled = 1ULL << 0;
inline constexpr std::uint64_t kTsmeEnabled = 1ULL << 1;
}  // namespace platform_bit

// Which key signed the report: SIGNER_INFO bits 4:2.
enum class SigningKey : std::uint8_t { Vcek = 0, Vlek = 1, None = 7 };

// The processor generation decides the TCB_VERSION byte layout.
enum class Product { Unknown, Milan, Genoa, Turin };
const char* product_name(Product p) noexcept;  // "Milan", "Genoa", "Turin", "unknown"

// TCB_VERSION. Milan/Genoa: byte 0 boot loader, 1 TEE, 6 SNP, 7 microcode.
// Turin: byte 0 FMC, 1 boot loader, 2 TEE, 3 SNP, 7 microcode. Other bytes reserved.
struct Tcb {
    std::uint8_t fmc = 0;  // Turin only
    std::uint8_t bootloader = 0;
    std::uint8_t tee = 0;
    std::uint8_t snp = 0;
    std::uint8_t microcode = 0;
    friend bool operator==(const Tcb&, const Tcb&) = default;
};
Tcb decode_tcb(std::uint64_t raw, Product product) noexcept;  // Unknown decodes as Milan
std::uint64_t encode_tcb(const Tcb& tcb, Product product) noexcept;
// True when every component of `have` is >= the same component of `min`.
bool tcb_at_least(const Tcb& have, const Tcb& min) noexcept;
std::string tcb_to_string(const Tcb& tcb, Product product);  // "bl=2 tee=0 snp=5 ucode=68"

struct Report {
    std::uint32_t version = 2;
    std::uint32_t guest_svn = 0;
    std::uint64_t policy = 0;
    std::array<std::uint8_t, 16> family_id{};
    std::array<std::uint8_t, 16> image_id{};
    std::uint32_t vmpl = 0;
    std::uint32_t signature_algo = kSignatureAlgoEcdsaP384Sha384;
    std::uint64_t current_tcb = 0;
    std::uint64_t platform_info = 0;
    std::uint32_t signer_info = 0;  // bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY
    std::array<std::uint8_t, 64> report_data{};
    std::array<std::uint8_t, 48> measurement{};
    std::array<std::uint8_t, 32> host_data{};
    std::array<std::uint8_t, 48> id_key_digest{};
    std::array<std::uint8_t, 48> author_key_digest{};
    std::array<std::uint8_t, 32> report_id{};
    std::array<std::uint8_t, 32> report_id_ma{};
    std::uint64_t reported_tcb = 0;
    std::uint8_t cpuid_fam_id = 0;  // version 3+
    std::uint8_t cpuid_mod_id = 0;  // version 3+
    std::uint8_t cpuid_step = 0;    // version 3+
    std::array<std::uint8_t, 64> chip_id{};
    std::uint64_t committed_tcb = 0;
    std::uint8_t current_build = 0, current_minor = 0, current_major = 0;
    std::uint8_t committed_build = 0, committed_minor = 0, committed_major = 0;
    std::uint64_t launch_tcb = 0;
    std::uint64_t launch_mit_vector = 0;   // version 5+
    std::uint64_t current_mit_vector = 0;  // version 5+
    std::array<std::uint8_t, kSignatureComponentSize> signature_r{};  // little-endian
    std::array<std::uint8_t, kSignatureComponentSize> signature_s{};  // little-endian

    [[nodiscard]] SigningKey signing_key() const noexcept;
    [[nodiscard]] bool mask_chip_id() const noexcept { return (signer_info & 2U) != 0; }
    // From CPUID_FAM_ID/CPUID_MOD_ID (version 3+); Unknown for version 2.
    [[nodiscard]] Product product() const noexcept;
};

// InvalidInput naming the offset/field: wrong size, unknown version (not 2 to 5),
// signature algorithm not 1, a non-zero must-be-zero byte.
Result<Report> parse_report(ByteView bytes);
Bytes serialize_report(const Report& report);  // always kReportSize bytes

}  // namespace cvmunlock::snp
