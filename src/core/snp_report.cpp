// AMD SEV-SNP ATTESTATION_REPORT parser and serializer.
// Layout: SEV-SNP Firmware ABI spec (AMD 56860) rev 1.58, Table 23
// "ATTESTATION_REPORT Structure", all integers little-endian; signature format
// Table 141 "ECDSA P-384 with SHA-384 Signature". Cross-checked against
// google/go-sev-guest abi.ReportToProto and virtee/sev AttestationReport.
#include "cvmunlock/snp_report.hpp"

#include <algorithm>
#include <cstdio>
#include <initializer_list>

namespace cvmunlock::snp {

namespace {

// Table 23 field offsets.
constexpr std::size_t kVersionOffset = 0x000;        // u32
constexpr std::size_t kGuestSvnOffset = 0x004;       // u32
constexpr std::size_t kPolicyOffset = 0x008;         // u64
constexpr std::size_t kFamilyIdOffset = 0x010;       // 16 bytes
constexpr std::size_t kImageIdOffset = 0x020;        // 16 bytes
constexpr std::size_t kVmplOffset = 0x030;           // u32
constexpr std::size_t kSignatureAlgoOffset = 0x034;  // u32
constexpr std::size_t kCurrentTcbOffset = 0x038;     // u64 TCB_VERSION
constexpr std::size_t kPlatformInfoOffset = 0x040;   // u64
constexpr std::size_t kSignerInfoOffset = 0x048;     // u32
constexpr std::size_t kReserved0Offset = 0x04C;      // u32, MBZ
constexpr std::size_t kReportDataOffset = 0x050;     // 64 bytes
constexpr std::size_t kMeasurementOffset = 0x090;    // 48 bytes
constexpr std::size_t kHostDataOffset = 0x0C0;       // 32 bytes
constexpr std::size_t kIdKeyDigestOffset = 0x0E0;    // 48 bytes
constexpr std::size_t kAuthorKeyDigestOffset = 0x110;  // 48 bytes
constexpr std::size_t kReportIdOffset = 0x140;       // 32 bytes
constexpr std::size_t kReportIdMaOffset = 0x160;     // 32 bytes
constexpr std::size_t kReportedTcbOffset = 0x180;    // u64
constexpr std::size_t kCpuidFamIdOffset = 0x188;     // u8, version 3+
constexpr std::size_t kCpuidModIdOffset = 0x189;     // u8, version 3+
constexpr std::size_t kCpuidStepOffset = 0x18A;      // u8, version 3+
constexpr std::size_t kReserved1Offset = 0x18B;      // to 0x19F, MBZ
constexpr std::size_t kChipIdOffset = 0x1A0;         // 64 bytes
constexpr std::size_t kCommittedTcbOffset = 0x1E0;   // u64
constexpr std::size_t kCurrentBuildOffset = 0x1E8;   // u8 build, minor, major
constexpr std::size_t kReserved2Offset = 0x1EB;      // u8, MBZ
constexpr std::size_t kCommittedBuildOffset = 0x1EC;  // u8 build, minor, major
constexpr std::size_t kReserved3Offset = 0x1EF;      // u8, MBZ
constexpr std::size_t kLaunchTcbOffset = 0x1F0;      // u64
constexpr std::size_t kLaunchMitVectorOffset = 0x1F8;   // u64, version 5+
constexpr std::size_t kCurrentMitVectorOffset = 0x200;  // u64, version 5+
constexpr std::size_t kReserved4Offset = 0x208;      // to 0x29F, MBZ
// Table 141: R at +0x00, S at +0x48 (72 bytes each), reserved to +0x1FF.
constexpr std::size_t kSignatureROffset = kSignatureOffset;
constexpr std::size_t kSignatureSOffset = kSignatureOffset + kSignatureComponentSize;
constexpr std::size_t kSignatureReservedOffset = kSignatureSOffset + kSignatureComponentSize;

// SIGNER_INFO: bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY
// (0 VCEK, 1 VLEK, 2-6 reserved, 7 none), bits 31:5 reserved.
constexpr std::uint32_t kSignerInfoDefinedBits = 0x1F;
constexpr unsigned kSigningKeyShift = 2;
constexpr std::uint32_t kSigningKeyMask = 0x7;

// Version 3 added the CPUID fields, version 5 the mitigation vectors. Version 4
// is in the field (GCP Milan firmware 1.55.31) with the version 3 layout: its
// spec is under embargo, go-sev-guest and virtee/sev parse it like version 3.
constexpr std::uint32_t kMinVersion = 2;
constexpr std::uint32_t kMaxVersion = 5;
constexpr std::uint32_t kCpuidVersion = 3;
constexpr std::uint32_t kMitVectorVersion = 5;

struct ZeroRegion {
    std::size_t begin;
    std::size_t end;  // exclusive
    const char* name;
};

std::string hex_offset(std::size_t offset) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%03zx", offset);
    return buf;
}

Result<void> check_zero(ByteView bytes, const ZeroRegion& region) {
    for (std::size_t i = region.begin; i < region.end; ++i) {
        if (bytes[i] != 0) {
            char value[8];
            std::snprintf(value, sizeof value, "0x%02x", bytes[i]);
            return fail(ErrorCode::InvalidInput, "SNP report: must-be-zero byte at offset " + hex_offset(i) + " (" +
                                                     region.name + ") is " + value);
        }
    }
    return {};
}

Result<void> check_reserved(ByteView bytes, std::uint32_t version) {
    const std::size_t cpuid_end = version >= kCpuidVersion ? kReserved1Offset : kCpuidFamIdOffset;
    const std::size_t mit_end = version >= kMitVectorVersion ? kReserved4Offset : kLaunchMitVectorOffset;
    const char* cpuid_name = version >= kCpuidVersion ? "reserved after CPUID_STEP" : "CPUID fields (version 2)";
    const char* mit_name = version >= kMitVectorVersion ? "reserved after CURRENT_MIT_VECTOR"
                                                         : "reserved after LAUNCH_TCB (before version 5)";
    for (const ZeroRegion& r : std::initializer_list<ZeroRegion>{
             {kReserved0Offset, kReportDataOffset, "reserved after SIGNER_INFO"},
             {cpuid_end, kChipIdOffset, cpuid_name},
             {kReserved2Offset, kCommittedBuildOffset, "reserved after CURRENT_MAJOR"},
             {kReserved3Offset, kLaunchTcbOffset, "reserved after COMMITTED_MAJOR"},
             {mit_end, kSignatureOffset, mit_name},
             {kSignatureReservedOffset, kReportSize, "reserved after signature S"},
         }) {
        if (auto ok = check_zero(bytes, r); !ok) return ok;
    }
    return {};
}

Result<void> check_signer_info(std::uint32_t signer_info) {
    if ((signer_info & ~kSignerInfoDefinedBits) != 0) {
        return fail(ErrorCode::InvalidInput, "SNP report: SIGNER_INFO at offset " + hex_offset(kSignerInfoOffset) +
                                                 " has reserved bits 31:5 set (value " +
                                                 std::to_string(signer_info) + ")");
    }
    const std::uint32_t key = (signer_info >> kSigningKeyShift) & kSigningKeyMask;
    if (key != static_cast<std::uint32_t>(SigningKey::Vcek) && key != static_cast<std::uint32_t>(SigningKey::Vlek) &&
        key != static_cast<std::uint32_t>(SigningKey::None)) {
        return fail(ErrorCode::InvalidInput, "SNP report: SIGNER_INFO.SIGNING_KEY at offset " +
                                                 hex_offset(kSignerInfoOffset) + " is reserved value " +
                                                 std::to_string(key));
    }
    return {};
}

template <std::size_t N>
void load_array(ByteView bytes, std::size_t offset, std::array<std::uint8_t, N>& out) {
    std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(offset), N, out.begin());
}

template <std::size_t N>
void store_array(Bytes& out, std::size_t offset, const std::array<std::uint8_t, N>& in) {
    std::copy(in.begin(), in.end(), out.begin() + static_cast<std::ptrdiff_t>(offset));
}

void store_le32(Bytes& out, std::size_t offset, std::uint32_t v) {
    for (std::size_t i = 0; i < 4; ++i) out[offset + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

void store_le64(Bytes& out, std::size_t offset, std::uint64_t v) {
    for (std::size_t i = 0; i < 8; ++i) out[offset + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

constexpr std::uint32_t kMaxVmpl = 3;

void load_fields(ByteView b, Report& r) {
    const std::uint8_t* p = b.data();
    r.version = load_le32(p + kVersionOffset);
    r.guest_svn = load_le32(p + kGuestSvnOffset);
    r.policy = load_le64(p + kPolicyOffset);
    load_array(b, kFamilyIdOffset, r.family_id);
    load_array(b, kImageIdOffset, r.image_id);
    r.vmpl = load_le32(p + kVmplOffset);
    r.signature_algo = load_le32(p + kSignatureAlgoOffset);
    r.current_tcb = load_le64(p + kCurrentTcbOffset);
    r.platform_info = load_le64(p + kPlatformInfoOffset);
    r.signer_info = load_le32(p + kSignerInfoOffset);
    load_array(b, kReportDataOffset, r.report_data);
    load_array(b, kMeasurementOffset, r.measurement);
    load_array(b, kHostDataOffset, r.host_data);
    load_array(b, kIdKeyDigestOffset, r.id_key_digest);
    load_array(b, kAuthorKeyDigestOffset, r.author_key_digest);
    load_array(b, kReportIdOffset, r.report_id);
    load_array(b, kReportIdMaOffset, r.report_id_ma);
    r.reported_tcb = load_le64(p + kReportedTcbOffset);
    r.cpuid_fam_id = p[kCpuidFamIdOffset];
    r.cpuid_mod_id = p[kCpuidModIdOffset];
    r.cpuid_step = p[kCpuidStepOffset];
    load_array(b, kChipIdOffset, r.chip_id);
    r.committed_tcb = load_le64(p + kCommittedTcbOffset);
    r.current_build = p[kCurrentBuildOffset];
    r.current_minor = p[kCurrentBuildOffset + 1];
    r.current_major = p[kCurrentBuildOffset + 2];
    r.committed_build = p[kCommittedBuildOffset];
    r.committed_minor = p[kCommittedBuildOffset + 1];
    r.committed_major = p[kCommittedBuildOffset + 2];
    r.launch_tcb = load_le64(p + kLaunchTcbOffset);
    r.launch_mit_vector = load_le64(p + kLaunchMitVectorOffset);
    r.current_mit_vector = load_le64(p + kCurrentMitVectorOffset);
    load_array(b, kSignatureROffset, r.signature_r);
    load_array(b, kSignatureSOffset, r.signature_s);
}

}  // namespace

const char* product_name(Product p) noexcept {
    switch (p) {
        case Product::Milan: return "Milan";
        case Product::Genoa: return "Genoa";
        case Product::Turin: return "Turin";
        case Product::Unknown: break;
    }
    return "unknown";
}

SigningKey Report::signing_key() const noexcept {
    return static_cast<SigningKey>((signer_info >> kSigningKeyShift) & kSigningKeyMask);
}

// CPUID Fn0000_0001_EAX family/model as the report carries them (extended
// family and model already folded in). Model ranges as in virtee/sev
// Generation::identify_cpu: family 19h models 00h-0Fh Milan, 10h-1Fh and
// A0h-AFh Genoa (incl. Bergamo/Siena); family 1Ah models 00h-11h Turin.
Product Report::product() const noexcept {
    if (version < kCpuidVersion) return Product::Unknown;
    if (cpuid_fam_id == 0x19) {
        if (cpuid_mod_id <= 0x0F) return Product::Milan;
        if (cpuid_mod_id <= 0x1F || (cpuid_mod_id >= 0xA0 && cpuid_mod_id <= 0xAF)) return Product::Genoa;
    } else if (cpuid_fam_id == 0x1A && cpuid_mod_id <= 0x11) {
        return Product::Turin;
    }
    return Product::Unknown;
}

Result<Report> parse_report(ByteView bytes) {
    if (bytes.size() != kReportSize) {
        return fail(ErrorCode::InvalidInput, "SNP report is " + std::to_string(bytes.size()) + " bytes, expected " +
                                                 std::to_string(kReportSize) + " (0x4a0)");
    }
    Report r;
    load_fields(bytes, r);
    if (r.version < kMinVersion || r.version > kMaxVersion) {
        return fail(ErrorCode::InvalidInput, "SNP report: VERSION at offset 0x000 is " + std::to_string(r.version) +
                                                 ", expected 2 to 5");
    }
    if (r.signature_algo != kSignatureAlgoEcdsaP384Sha384) {
        return fail(ErrorCode::InvalidInput, "SNP report: SIGNATURE_ALGO at offset " +
                                                 hex_offset(kSignatureAlgoOffset) + " is " +
                                                 std::to_string(r.signature_algo) +
                                                 ", expected 1 (ECDSA P-384/SHA-384)");
    }
    // SEV-SNP ABI (AMD 56860), ATTESTATION_REPORT: VMPL is 0..3 (there are four VMPLs).
    if (r.vmpl > kMaxVmpl) {
        return fail(ErrorCode::InvalidInput, "SNP report: VMPL at offset " + hex_offset(kVmplOffset) + " is " +
                                                 std::to_string(r.vmpl) + ", expected 0 to 3");
    }
    if (auto ok = check_signer_info(r.signer_info); !ok) return std::unexpected(ok.error());
    if (auto ok = check_reserved(bytes, r.version); !ok) return std::unexpected(ok.error());
    return r;
}

Bytes serialize_report(const Report& r) {
    Bytes out(kReportSize, 0);
    store_le32(out, kVersionOffset, r.version);
    store_le32(out, kGuestSvnOffset, r.guest_svn);
    store_le64(out, kPolicyOffset, r.policy);
    store_array(out, kFamilyIdOffset, r.family_id);
    store_array(out, kImageIdOffset, r.image_id);
    store_le32(out, kVmplOffset, r.vmpl);
    store_le32(out, kSignatureAlgoOffset, r.signature_algo);
    store_le64(out, kCurrentTcbOffset, r.current_tcb);
    store_le64(out, kPlatformInfoOffset, r.platform_info);
    store_le32(out, kSignerInfoOffset, r.signer_info);
    store_array(out, kReportDataOffset, r.report_data);
    store_array(out, kMeasurementOffset, r.measurement);
    store_array(out, kHostDataOffset, r.host_data);
    store_array(out, kIdKeyDigestOffset, r.id_key_digest);
    store_array(out, kAuthorKeyDigestOffset, r.author_key_digest);
    store_array(out, kReportIdOffset, r.report_id);
    store_array(out, kReportIdMaOffset, r.report_id_ma);
    store_le64(out, kReportedTcbOffset, r.reported_tcb);
    out[kCpuidFamIdOffset] = r.cpuid_fam_id;
    out[kCpuidModIdOffset] = r.cpuid_mod_id;
    out[kCpuidStepOffset] = r.cpuid_step;
    store_array(out, kChipIdOffset, r.chip_id);
    store_le64(out, kCommittedTcbOffset, r.committed_tcb);
    out[kCurrentBuildOffset] = r.current_build;
    out[kCurrentBuildOffset + 1] = r.current_minor;
    out[kCurrentBuildOffset + 2] = r.current_major;
    out[kCommittedBuildOffset] = r.committed_build;
    out[kCommittedBuildOffset + 1] = r.committed_minor;
    out[kCommittedBuildOffset + 2] = r.committed_major;
    store_le64(out, kLaunchTcbOffset, r.launch_tcb);
    store_le64(out, kLaunchMitVectorOffset, r.launch_mit_vector);
    store_le64(out, kCurrentMitVectorOffset, r.current_mit_vector);
    store_array(out, kSignatureROffset, r.signature_r);
    store_array(out, kSignatureSOffset, r.signature_s);
    return out;
}

}  // namespace cvmunlock::snp
