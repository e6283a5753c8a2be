// Azure HCL report parser/serializer, runtime-claims binding and the HCLAkPub
// JWK, over the two real Azure reports in tests/data/snp/trustee and mutations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cvmunlock/hash.hpp"
#include "cvmunlock/hcl_report.hpp"
#include "test_data.hpp"

namespace cvmunlock::hcl {
namespace {

using testing::read_data;

struct HclVector {
    const char* name;
    std::uint32_t header_version;
    std::uint32_t variable_size;
    std::uint32_t snp_version;
    snp::Product product;
    const char* ak_modulus_prefix;  // first bytes of HCLAkPub "n", decoded by hand from the JSON
};

const std::vector<HclVector>& hcl_vectors() {
    static const std::vector<HclVector> v = {
        {"trustee/azure-hcl-report.bin", 1, 1110, 2, snp::Product::Unknown, "a91ecba80001"},
        {"trustee/azure-evidence-genoa.json", 2, 1200, 3, snp::Product::Genoa, "bf9ab7e20000"},
    };
    return v;
}

Bytes hcl_bytes(const std::string& name) {
    const Bytes raw = read_data("snp/" + name);
    if (!name.ends_with(".json")) return raw;
    return nlohmann::json::parse(raw.begin(), raw.end()).at("report").get<Bytes>();
}

void put_le32(Bytes& b, std::size_t offset, std::uint32_t v) {
    for (std::size_t i = 0; i < 4; ++i) b[offset + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

std::uint32_t variable_size_of(const Bytes& b) { return load_le32(b.data() + 0x4D0); }

void expect_invalid(const Result<HclReport>& r, const std::string& needle) {
    ASSERT_FALSE(r.has_value()) << "expected a refusal naming " << needle;
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

TEST(HclReport, RealReportsParseWithTheirExpectedFields) {
    for (const auto& v : hcl_vectors()) {
        SCOPED_TRACE(v.name);
        const Bytes raw = hcl_bytes(v.name);
        EXPECT_EQ(raw.size(), 2600u);  // the NV index size
        EXPECT_TRUE(looks_like_hcl(raw));
        auto r = parse_hcl_report(raw);
        ASSERT_TRUE(r.has_value()) << r.error().message;
        EXPECT_EQ(r->header_version, v.header_version);
        EXPECT_EQ(r->request_type, 2u);
        EXPECT_EQ(r->status, 0u);
        EXPECT_EQ(r->report_type, kReportTypeSnp);
        EXPECT_EQ(r->hash_type, kHashTypeSha256);
        EXPECT_EQ(r->data_version, 1u);
        EXPECT_EQ(r->runtime_json.size(), v.variable_size);
        EXPECT_EQ(r->data_size, v.variable_size + kRequestDataHeaderSize);
        EXPECT_EQ(r->report_size, kRequestDataOffset + r->data_size);
        EXPECT_EQ(r->hw_report, Bytes(raw.begin() + 0x20, raw.begin() + 0x4C0));
        EXPECT_EQ(r->snp.version, v.snp_version);
        EXPECT_EQ(r->snp.product(), v.product);
        EXPECT_EQ(r->snp.policy, 0x3001fu);
        const auto claims = nlohmann::json::parse(r->runtime_json);
        EXPECT_TRUE(claims.contains("vm-configuration"));
        EXPECT_EQ(claims.at("keys").size(), 2u);
    }
}

TEST(HclReport, RuntimeClaimsHashIsBoundInReportData) {
    for (const auto& v : hcl_vectors()) {
        SCOPED_TRACE(v.name);
        auto r = parse_hcl_report(hcl_bytes(v.name));
        ASSERT_TRUE(r.has_value()) << r.error().message;
        auto ok = check_runtime_hash(*r);
        EXPECT_TRUE(ok.has_value()) << ok.error().message;
    }
}

TEST(HclReport, AkPublicIsA2048BitRsaKey) {
    for (const auto& v : hcl_vectors()) {
        SCOPED_TRACE(v.name);
        auto r = parse_hcl_report(hcl_bytes(v.name));
        ASSERT_TRUE(r.has_value()) << r.error().message;
        auto ak = ak_public_from_runtime(r->runtime_json);
        ASSERT_TRUE(ak.has_value()) << ak.error().message;
        ASSERT_EQ(ak->modulus.size(), 256u);
        EXPECT_NE(ak->modulus[0] & 0x80, 0) << "modulus not 2048 bits";
        EXPECT_TRUE(to_hex(ak->modulus).starts_with(v.ak_modulus_prefix)) << to_hex(ak->modulus);
        EXPECT_EQ(to_hex(ak->exponent), "010001");
    }
}

TEST(HclReport, SerializeOfParseIsTheReportWithoutNvPadding) {
    for (const auto& v : hcl_vectors()) {
        SCOPED_TRACE(v.name);
        const Bytes raw = hcl_bytes(v.name);
        const std::size_t used = kRuntimeDataOffset + variable_size_of(raw);
        // The rest of the NV index is zero padding.
        for (std::size_t i = used; i < raw.size(); ++i) ASSERT_EQ(raw[i], 0) << i;
        auto r = parse_hcl_report(raw);
        ASSERT_TRUE(r.has_value()) << r.error().message;
        const Bytes out = serialize_hcl_report(*r);
        EXPECT_EQ(to_hex(out), to_hex(ByteView(raw).first(used)));
        // Without the padding it parses the same.
        auto again = parse_hcl_report(out);
        ASSERT_TRUE(again.has_value()) << again.error().message;
        EXPECT_EQ(serialize_hcl_report(*again), out);
        // Built from fields only (no raw hw_report), the SNP report is serialized.
        HclReport fields_only = *r;
        fields_only.hw_report.clear();
        EXPECT_EQ(serialize_hcl_report(fields_only), out);
    }
}

TEST(HclReport, RawSnpReportIsNotAnHclReport) {
    const Bytes snp = read_data("snp/go-sev-guest/attestation.bin");
    EXPECT_FALSE(looks_like_hcl(snp));
    EXPECT_FALSE(looks_like_hcl(Bytes{'H', 'C', 'L'}));
    EXPECT_FALSE(looks_like_hcl(Bytes{}));
    expect_invalid(parse_hcl_report(snp), "signature");
}

TEST(HclReportMutation, BadMagicIsRefused) {
    const Bytes raw = hcl_bytes("trustee/azure-hcl-report.bin");
    for (std::size_t i = 0; i < 4; ++i) {
        Bytes m = raw;
        m[i] ^= 0x20;
        EXPECT_FALSE(looks_like_hcl(m));
        expect_invalid(parse_hcl_report(m), "signature");
    }
}

TEST(HclReportMutation, ShortInputIsRefusedNamingTheSize) {
    const Bytes raw = hcl_bytes("trustee/azure-hcl-report.bin");
    for (const std::size_t n : {std::size_t{0}, std::size_t{3}, std::size_t{0x20}, std::size_t{0x4C0},
                                std::size_t{0x4D3}}) {
        SCOPED_TRACE(n);
        expect_invalid(parse_hcl_report(ByteView(raw).first(n)), std::to_string(n) + " bytes");
    }
    // Cut inside the runtime claims: the variable data runs past the end.
    const std::size_t cut = kRuntimeDataOffset + variable_size_of(raw) - 1;
    expect_invalid(parse_hcl_report(ByteView(raw).first(cut)), "variable_data_size");
}

TEST(HclReportMutation, ReportTypeOtherThanSnpIsRefused) {
    const Bytes raw = hcl_bytes("trustee/azure-evidence-genoa.json");
    for (const std::uint32_t type : {0U, 1U, 3U, 4U}) {
        SCOPED_TRACE(type);
        Bytes m = raw;
        put_le32(m, 0x4C8, type);
        expect_invalid(parse_hcl_report(m), "report_type");
    }
}

TEST(HclReportMutation, UnknownHashTypeIsRefused) {
    const Bytes raw = hcl_bytes("trustee/azure-hcl-report.bin");
    for (const std::uint32_t type : {0U, 4U, 0xFFFFFFFFU}) {
        SCOPED_TRACE(type);
        Bytes m = raw;
        put_le32(m, 0x4CC, type);
        expect_invalid(parse_hcl_report(m), "report_data_hash_type");
    }
}

TEST(HclReportMutation, VariableDataPastTheEndIsRefused) {
    const Bytes raw = hcl_bytes("trustee/azure-hcl-report.bin");
    const auto past = static_cast<std::uint32_t>(raw.size() - kRuntimeDataOffset + 1);
    for (const std::uint32_t size : {past, 0xFFFFFFFFU}) {
        SCOPED_TRACE(size);
        Bytes m = raw;
        put_le32(m, 0x4D0, size);
        expect_invalid(parse_hcl_report(m), "variable_data_size");
    }
}

TEST(HclReportMutation, InconsistentSizesAreRefused) {
    const Bytes raw = hcl_bytes("trustee/azure-hcl-report.bin");
    Bytes m = raw;
    put_le32(m, 0x4C0, load_le32(raw.data() + 0x4C0) + 1);
    expect_invalid(parse_hcl_report(m), "data_size");
    m = raw;
    put_le32(m, 0x08, load_le32(raw.data() + 0x08) - 1);
    expect_invalid(parse_hcl_report(m), "report_size");
}

TEST(HclReportMutation, ReservedHeaderByteIsRefusedNamingItsOffset) {
    const Bytes raw = hcl_bytes("trustee/azure-hcl-report.bin");
    for (std::size_t i = 0x14; i < 0x20; ++i) {
        Bytes m = raw;
        m[i] = 1;
        char offset[8];
        std::snprintf(offset, sizeof offset, "0x%zx", i);
        expect_invalid(parse_hcl_report(m), offset);
    }
}

TEST(HclReportMutation, MalformedHardwareReportIsRefusedWithItsOffset) {
    const Bytes raw = hcl_bytes("trustee/azure-hcl-report.bin");
    Bytes m = raw;
    m[0x20 + 0x4C] = 1;  // SNP reserved after SIGNER_INFO
    expect_invalid(parse_hcl_report(m), "hardware report at offset 0x20");
    expect_invalid(parse_hcl_report(m), "0x04c");
    m = raw;
    put_le32(m, 0x20, 9);  // SNP version
    expect_invalid(parse_hcl_report(m), "VERSION");
}

TEST(HclReportMutation, FlippedRuntimeClaimsByteIsTampered) {
    for (const auto& v : hcl_vectors()) {
        SCOPED_TRACE(v.name);
        const Bytes raw = hcl_bytes(v.name);
        const std::size_t size = variable_size_of(raw);
        for (const std::size_t at : {std::size_t{0}, size / 2, size - 1}) {
            Bytes m = raw;
            m[kRuntimeDataOffset + at] ^= 0x01;
            auto r = parse_hcl_report(m);
            ASSERT_TRUE(r.has_value()) << r.error().message;  // structure is intact
            auto bound = check_runtime_hash(*r);
            ASSERT_FALSE(bound.has_value()) << "flip at " << at;
            EXPECT_EQ(bound.error().code, ErrorCode::Tampered);
            const Bytes actual = *hash_bytes(HashAlg::Sha256, ByteView(m).subspan(kRuntimeDataOffset, size));
            EXPECT_NE(bound.error().message.find(to_hex(actual)), std::string::npos) << bound.error().message;
            EXPECT_NE(bound.error().message.find(to_hex(ByteView(r->snp.report_data).first(32))), std::string::npos);
        }
    }
}

TEST(HclReportMutation, FlippedReportDataByteIsTampered) {
    Bytes m = hcl_bytes("trustee/azure-hcl-report.bin");
    m[0x20 + 0x50 + 31] ^= 0x80;  // last byte of the SHA-256 half of report_data
    auto r = parse_hcl_report(m);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    auto bound = check_runtime_hash(*r);
    ASSERT_FALSE(bound.has_value());
    EXPECT_EQ(bound.error().code, ErrorCode::Tampered);
}

TEST(HclReport, Sha384RuntimeHashIsChecked) {
    auto r = parse_hcl_report(hcl_bytes("trustee/azure-hcl-report.bin"));
    ASSERT_TRUE(r.has_value()) << r.error().message;
    r->hash_type = 2;  // IGVM SHA-384
    ASSERT_FALSE(check_runtime_hash(*r).has_value());
    const auto* text = reinterpret_cast<const std::uint8_t*>(r->runtime_json.data());
    const Bytes digest = *hash_bytes(HashAlg::Sha384, ByteView(text, r->runtime_json.size()));
    std::copy(digest.begin(), digest.end(), r->snp.report_data.begin());
    EXPECT_TRUE(check_runtime_hash(*r).has_value());
}

TEST(HclReport, AkPublicRefusesMalformedClaims) {
    auto r = parse_hcl_report(hcl_bytes("trustee/azure-hcl-report.bin"));
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const auto claims = nlohmann::json::parse(r->runtime_json);
    struct Case {
        const char* what;
        std::string json;
        const char* needle;
    };
    auto edited = [&](const auto& edit) {
        nlohmann::json j = claims;
        edit(j.at("keys").at(0));
        return j.dump();
    };
    const std::vector<Case> cases = {
        {"not JSON", r->runtime_json.substr(0, 40), "not a JSON object"},
        {"array", "[1,2]", "not a JSON object"},
        {"no keys", R"({"vm-configuration":{}})", "\"keys\""},
        {"kid renamed", edited([](auto& k) { k["kid"] = "OtherKey"; }), "HCLAkPub"},
        {"kid not a string", edited([](auto& k) { k["kid"] = 7; }), "HCLAkPub"},
        {"EC key", edited([](auto& k) { k["kty"] = "EC"; }), "kty"},
        {"no n", edited([](auto& k) { k.erase("n"); }), "\"n\""},
        {"n a number", edited([](auto& k) { k["n"] = 5; }), "\"n\""},
        {"n standard base64", edited([](auto& k) { k["n"] = "ab+/"; }), "\"n\""},
        {"n padded", edited([](auto& k) { k["n"] = "AQAB="; }), "\"n\""},
        {"n bad length", edited([](auto& k) { k["n"] = "AQABA"; }), "\"n\""},
        {"e empty", edited([](auto& k) { k["e"] = ""; }), "\"e\""},
        {"e leading zero", edited([](auto& k) { k["e"] = "AAEAAQ"; }), "\"e\""},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.what);
        auto ak = ak_public_from_runtime(c.json);
        ASSERT_FALSE(ak.has_value());
        EXPECT_EQ(ak.error().code, ErrorCode::InvalidInput);
        EXPECT_NE(ak.error().message.find(c.needle), std::string::npos) << ak.error().message;
    }
    // The HCLEkPub key is never taken for the AK.
    nlohmann::json only_ek = claims;
    only_ek["keys"].erase(0);
    auto ak = ak_public_from_runtime(only_ek.dump());
    ASSERT_FALSE(ak.has_value());
    EXPECT_NE(ak.error().message.find("HCLAkPub"), std::string::npos);
}

}  // namespace
}  // namespace cvmunlock::hcl
