// Azure confidential-VM HCL report (vTPM NV index 0x01400001), all integers
// little-endian. Layout as the OpenHCL paravisor writes it (azure-cvm-tooling
// az-snp-vtpm HclReport, IGVM_ATTEST_REQUEST):
//   0x000 header: u32 signature "HCLA", u32 version, u32 report_size,
//         u32 request_type, u32 status, 12 reserved bytes
//   0x020 hardware report (SEV-SNP ATTESTATION_REPORT, 0x4A0 bytes)
//   0x4C0 IGVM request data: u32 data_size, u32 version, u32 report_type
//         (2 = SNP), u32 report_data_hash_type (1 SHA-256, 2 SHA-384,
//         3 SHA-512), u32 variable_data_size
//   0x4D4 variable data: the runtime-claims JSON, hashed into report_data
// The NV index is larger than the report; what follows the variable data is
// padding and is ignored.
#include "cvmunlock/hcl_report.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cvmunlock/hash.hpp"
#include "cvmunlock/token.hpp"

namespace cvmunlock::hcl {

namespace {

constexpr std::array<std::uint8_t, 4> kSignature{'H', 'C', 'L', 'A'};
constexpr std::size_t kHeaderVersionOffset = 0x04;
constexpr std::size_t kReportSizeOffset = 0x08;
constexpr std::size_t kRequestTypeOffset = 0x0C;
constexpr std::size_t kStatusOffset = 0x10;
constexpr std::size_t kHeaderReservedOffset = 0x14;  // to kHeaderSize, MBZ
constexpr std::size_t kDataSizeOffset = kRequestDataOffset + 0x00;
constexpr std::size_t kDataVersionOffset = kRequestDataOffset + 0x04;
constexpr std::size_t kReportTypeOffset = kRequestDataOffset + 0x08;
constexpr std::size_t kHashTypeOffset = kRequestDataOffset + 0x0C;
constexpr std::size_t kVariableSizeOffset = kRequestDataOffset + 0x10;
static_assert(kHwReportOffset + snp::kReportSize == kRequestDataOffset);
static_assert(kRequestDataOffset + kRequestDataHeaderSize == kRuntimeDataOffset);

constexpr std::uint32_t kHashTypeSha384 = 2;
constexpr std::uint32_t kHashTypeSha512 = 3;

std::string hex_offset(std::size_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%zx", v);
    return buf;
}

std::optional<HashAlg> hash_alg_for(std::uint32_t hash_type) noexcept {
    switch (hash_type) {
        case kHashTypeSha256: return HashAlg::Sha256;
        case kHashTypeSha384: return HashAlg::Sha384;
        case kHashTypeSha512: return HashAlg::Sha512;
        default: return std::nullopt;
    }
}

Result<void> parse_header(ByteView b, HclReport& r) {
    r.header_version = load_le32(b.data() + kHeaderVersionOffset);
    r.report_size = load_le32(b.data() + kReportSizeOffset);
    r.request_type = load_le32(b.data() + kRequestTypeOffset);
    r.status = load_le32(b.data() + kStatusOffset);
    for (std::size_t i = kHeaderReservedOffset; i < kHeaderSize; ++i) {
        if (b[i] != 0) {
            return fail(ErrorCode::InvalidInput, "HCL report: reserved header byte at offset " +
                                                     hex_offset(i) + " is not zero");
        }
    }
    return {};
}

std::unexpected<Error> bad_field(const char* field, std::size_t offset, const std::string& what) {
    return fail(ErrorCode::InvalidInput, std::string("HCL report: ") + field + " at offset " + hex_offset(offset) +
                                             " " + what);
}

Result<void> parse_request_data(ByteView b, HclReport& r) {
    r.data_size = load_le32(b.data() + kDataSizeOffset);
    r.data_version = load_le32(b.data() + kDataVersionOffset);
    r.report_type = load_le32(b.data() + kReportTypeOffset);
    r.hash_type = load_le32(b.data() + kHashTypeOffset);
    const std::uint32_t variable_size = load_le32(b.data() + kVariableSizeOffset);
    if (r.report_type != kReportTypeSnp) {
        return bad_field("report_type", kReportTypeOffset, "is " + std::to_string(r.report_type) + ", not SNP (2)");
    }
    if (!hash_alg_for(r.hash_type)) {
        return bad_field("report_data_hash_type", kHashTypeOffset, "is unknown value " + std::to_string(r.hash_type));
    }
    const std::size_t available = b.size() - kRuntimeDataOffset;
    if (variable_size > available) {
        return bad_field("variable_data_size", kVariableSizeOffset,
                         "is " + std::to_string(variable_size) + " bytes, but only " + std::to_string(available) +
                             " follow offset " + hex_offset(kRuntimeDataOffset) + " (input " +
                             std::to_string(b.size()) + " bytes)");
    }
    const std::size_t expected_data_size = kRequestDataHeaderSize + variable_size;
    if (r.data_size != expected_data_size) {
        return bad_field("data_size", kDataSizeOffset,
                         "is " + std::to_string(r.data_size) + ", expected 20 + variable_data_size = " +
                             std::to_string(expected_data_size));
    }
    const std::size_t expected_report_size = kRequestDataOffset + expected_data_size;
    if (r.report_size != expected_report_size) {
        return bad_field("report_size", kReportSizeOffset,
                         "is " + std::to_string(r.report_size) + ", expected 0x4c0 + data_size = " +
                             std::to_string(expected_report_size));
    }
    const auto* text = reinterpret_cast<const char*>(b.data() + kRuntimeDataOffset);
    r.runtime_json.assign(text, variable_size);
    return {};
}

// find() rather than value(): value() throws when a member has another type.
bool member_is(const nlohmann::json& object, const char* name, std::string_view want) {
    const auto it = object.find(name);
    return it != object.end() && it->is_string() && it->get_ref<const std::string&>() == want;
}

void append_bytes(Bytes& out, ByteView b) { out.insert(out.end(), b.begin(), b.end()); }

// JWK "n"/"e" are base64url without padding (RFC 7515 section 2, RFC 7518
// section 6.3.1): map to the standard alphabet, pad, and decode with OpenSSL.
std::optional<Bytes> base64url_decode(std::string_view text) {
    std::string standard;
    standard.reserve(text.size() + 3);
    for (const char c : text) {
        const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (plain) {
            standard.push_back(c);
        } else if (c == '-') {
            standard.push_back('+');
        } else if (c == '_') {
            standard.push_back('/');
        } else {
            return std::nullopt;
        }
    }
    if (standard.size() % 4 == 1) return std::nullopt;
    while (standard.size() % 4 != 0) standard.push_back('=');
    return base64_decode(standard);
}

Result<Bytes> jwk_integer(const nlohmann::json& key, const char* member) {
    const auto it = key.find(member);
    if (it == key.end() || !it->is_string()) {
        return fail(ErrorCode::InvalidInput, std::string("runtime claims: HCLAkPub has no string \"") + member + "\"");
    }
    auto bytes = base64url_decode(it->get_ref<const std::string&>());
    if (!bytes || bytes->empty() || (*bytes)[0] == 0) {
        return fail(ErrorCode::InvalidInput,
                    std::string("runtime claims: HCLAkPub \"") + member + "\" is not a base64url unsigned integer");
    }
    return *bytes;
}

}  // namespace

bool looks_like_hcl(ByteView bytes) noexcept {
    return bytes.size() >= kSignature.size() && std::equal(kSignature.begin(), kSignature.end(), bytes.begin());
}

Result<HclReport> parse_hcl_report(ByteView bytes) {
    // The signature first: a raw SNP report is shorter, and "not HCLA" says more.
    if (bytes.size() >= kSignature.size() && !looks_like_hcl(bytes)) {
        return fail(ErrorCode::InvalidInput, "HCL report: signature at offset 0x0 is not \"HCLA\"");
    }
    if (bytes.size() < kRuntimeDataOffset) {
        return fail(ErrorCode::InvalidInput, "HCL report is " + std::to_string(bytes.size()) +
                                                 " bytes, shorter than its fixed part (" +
                                                 std::to_string(kRuntimeDataOffset) + " bytes)");
    }
    HclReport r;
    if (auto ok = parse_header(bytes, r); !ok) return std::unexpected(ok.error());
    const ByteView hw = bytes.subspan(kHwReportOffset, snp::kReportSize);
    auto snp = snp::parse_report(hw);
    if (!snp) return std::unexpected(snp.error().context("HCL report: hardware report at offset 0x20"));
    r.hw_report.assign(hw.begin(), hw.end());
    r.snp = *snp;
    if (auto ok = parse_request_data(bytes, r); !ok) return std::unexpected(ok.error());
    return r;
}

Bytes serialize_hcl_report(const HclReport& report) {
    Bytes out(kSignature.begin(), kSignature.end());
    append_le32(out, report.header_version);
    append_le32(out, report.report_size);
    append_le32(out, report.request_type);
    append_le32(out, report.status);
    out.resize(kHeaderSize, 0);
    // The raw report keeps a signed report byte-exact; a report built only as
    // fields is serialized from them.
    if (report.hw_report.size() == snp::kReportSize) {
        append_bytes(out, report.hw_report);
    } else {
        append_bytes(out, snp::serialize_report(report.snp));
    }
    append_le32(out, report.data_size);
    append_le32(out, report.data_version);
    append_le32(out, report.report_type);
    append_le32(out, report.hash_type);
    append_le32(out, static_cast<std::uint32_t>(report.runtime_json.size()));
    out.insert(out.end(), report.runtime_json.begin(), report.runtime_json.end());
    return out;
}

Result<RsaPublic> ak_public_from_runtime(const std::string& runtime_json) {
    const auto doc = nlohmann::json::parse(runtime_json, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) {
        return fail(ErrorCode::InvalidInput, "runtime claims: not a JSON object");
    }
    const auto keys = doc.find("keys");
    if (keys == doc.end() || !keys->is_array()) {
        return fail(ErrorCode::InvalidInput, "runtime claims: no \"keys\" array");
    }
    for (const auto& key : *keys) {
        if (!key.is_object() || !member_is(key, "kid", "HCLAkPub")) continue;
        if (!member_is(key, "kty", "RSA")) {
            return fail(ErrorCode::InvalidInput, "runtime claims: HCLAkPub is not an RSA key (\"kty\")");
        }
        auto modulus = jwk_integer(key, "n");
        if (!modulus) return std::unexpected(modulus.error());
        auto exponent = jwk_integer(key, "e");
        if (!exponent) return std::unexpected(exponent.error());
        return RsaPublic{std::move(*modulus), std::move(*exponent)};
    }
    return fail(ErrorCode::InvalidInput, "runtime claims: no key with \"kid\": \"HCLAkPub\"");
}

Result<void> check_runtime_hash(const HclReport& report) {
    const auto alg = hash_alg_for(report.hash_type);
    if (!alg) {
        return fail(ErrorCode::InvalidInput, "HCL report: unknown report_data_hash_type " +
                                                 std::to_string(report.hash_type));
    }
    const auto* text = reinterpret_cast<const std::uint8_t*>(report.runtime_json.data());
    auto digest = hash_bytes(*alg, ByteView(text, report.runtime_json.size()));
    if (!digest) return std::unexpected(digest.error());
    const ByteView bound(report.snp.report_data.data(), digest->size());
    if (!std::equal(bound.begin(), bound.end(), digest->begin())) {
        return fail(ErrorCode::Tampered, "HCL report: report_data[0:" + std::to_string(digest->size()) + "] is " +
                                             to_hex(bound) + " but " + std::string(hash_alg_name(*alg)) +
                                             " of the runtime claims is " + to_hex(*digest));
    }
    return {};
}

}  // namespace cvmunlock::hcl
