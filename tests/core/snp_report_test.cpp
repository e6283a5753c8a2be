// SEV-SNP ATTESTATION_REPORT parser/serializer and TCB_VERSION codec, over the
// real reports in tests/data/snp (provenance in tests/data/README.md) and
// mutations of them.
#include <gtest/gtest.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cvmunlock/hcl_report.hpp"
#include "cvmunlock/snp_report.hpp"
#include "test_data.hpp"

namespace cvmunlock::snp {
namespace {

using testing::read_data;

struct ReportVector {
    const char* name;
    std::uint32_t version;
    std::uint64_t policy;
    std::uint32_t vmpl;
    SigningKey signer;
    std::uint64_t current_tcb;
    std::uint64_t reported_tcb;
    std::uint64_t committed_tcb;
    Product product;
    const char* chip_id_prefix;  // hex; "" for all zero
};

// Expected values from tests/data/README.md and the sources' own tests.
const std::vector<ReportVector>& report_vectors() {
    static const std::vector<ReportVector> v = {
        {"go-sev-guest/attestation.bin", 2, 0xb0000, 0, SigningKey::Vcek, 0x4405000000000002ULL,
         0x4405000000000002ULL, 0x4405000000000002ULL, Product::Unknown, "3ac3fe21e13fb099"},
        {"trustee/test-report.bin", 2, 0x3001f, 0, SigningKey::Vcek, 0xce08000000000003ULL, 0x7308000000000003ULL,
         0x7308000000000003ULL, Product::Unknown, "c38427a30d4c7af9"},
        {"trustee/test-vlek-report.bin", 3, 0x30000, 1, SigningKey::Vlek, 0xdc18000000000004ULL,
         0xd918000000000004ULL, 0xdb18000000000004ULL, Product::Milan, ""},
        {"trustee/azure-hcl-report.bin#hw", 2, 0x3001f, 0, SigningKey::Vcek, 0xd208000000000003ULL,
         0x7308000000000003ULL, 0x7308000000000003ULL, Product::Unknown, "19752a447db501a3"},
        {"trustee/azure-evidence-genoa.json#hw", 3, 0x3001f, 0, SigningKey::Vcek, 0x541700000000000aULL,
         0x541700000000000aULL, 0x541700000000000aULL, Product::Genoa, "0506ffba875e939c"},
    };
    return v;
}

Bytes genoa_hcl_bytes() {
    const Bytes raw = read_data("snp/trustee/azure-evidence-genoa.json");
    return nlohmann::json::parse(raw.begin(), raw.end()).at("report").get<Bytes>();
}

// The 0x4A0 raw report of a vector; "#hw" names the report inside an HCL report.
Bytes report_bytes(const std::string& name) {
    const auto hash = name.find('#');
    if (hash == std::string::npos) return read_data("snp/" + name);
    const std::string file = name.substr(0, hash);
    const Bytes outer = file.ends_with(".json") ? genoa_hcl_bytes() : read_data("snp/" + file);
    const auto begin = outer.begin() + static_cast<std::ptrdiff_t>(hcl::kHwReportOffset);
    return Bytes(begin, begin + static_cast<std::ptrdiff_t>(kReportSize));
}

std::string offset_text(std::size_t offset) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%03zx", offset);
    return buf;
}

void put_le32(Bytes& b, std::size_t offset, std::uint32_t v) {
    for (std::size_t i = 0; i < 4; ++i) b[offset + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

// Must-be-zero ranges of ATTESTATION_REPORT (ABI spec Table 23, Table 141),
// written out here independently of the parser.
struct Range {
    std::size_t begin, end;
};
std::vector<Range> zero_ranges(std::uint32_t version) {
    std::vector<Range> r = {{0x04C, 0x050}, {version >= 3 ? 0x18BU : 0x188U, 0x1A0}, {0x1EB, 0x1EC},
                            {0x1EF, 0x1F0}, {version >= 5 ? 0x208U : 0x1F8U, 0x2A0}, {0x330, 0x4A0}};
    return r;
}

bool in_zero_range(std::size_t offset, std::uint32_t version) {
    for (const auto& r : zero_ranges(version)) {
        if (offset >= r.begin && offset < r.end) return true;
    }
    return false;
}

TEST(SnpReport, EveryRealReportParsesWithItsExpectedFields) {
    for (const auto& v : report_vectors()) {
        SCOPED_TRACE(v.name);
        const Bytes raw = report_bytes(v.name);
        auto r = parse_report(raw);
        ASSERT_TRUE(r.has_value()) << r.error().message;
        EXPECT_EQ(r->version, v.version);
        EXPECT_EQ(r->policy, v.policy);
        EXPECT_EQ(r->vmpl, v.vmpl);
        EXPECT_EQ(r->signature_algo, kSignatureAlgoEcdsaP384Sha384);
        EXPECT_EQ(r->signing_key(), v.signer);
        EXPECT_FALSE(r->mask_chip_id());
        EXPECT_EQ(r->current_tcb, v.current_tcb);
        EXPECT_EQ(r->reported_tcb, v.reported_tcb);
        EXPECT_EQ(r->committed_tcb, v.committed_tcb);
        EXPECT_EQ(r->product(), v.product);
        const std::string chip = to_hex(r->chip_id);
        if (std::string(v.chip_id_prefix).empty()) {
            EXPECT_EQ(chip, std::string(128, '0'));
        } else {
            EXPECT_TRUE(chip.starts_with(v.chip_id_prefix)) << chip;
        }
        // The signature is P-384: R and S use 48 of their 72 little-endian bytes.
        EXPECT_EQ(to_hex(ByteView(r->signature_r).subspan(48)), std::string(48, '0'));
        EXPECT_NE(to_hex(ByteView(r->signature_r).first(48)), std::string(96, '0'));
    }
}

TEST(SnpReport, GoSevGuestReportMatchesItsProvenance) {
    auto r = parse_report(read_data("snp/go-sev-guest/attestation.bin"));
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_NE(r->policy & policy_bit::kDebug, 0u);
    EXPECT_NE(r->policy & policy_bit::kSmt, 0u);
    EXPECT_NE(r->policy & policy_bit::kReserved1, 0u);
    EXPECT_EQ(to_hex(r->report_data), "0102030405" + std::string(118, '0'));
    const Tcb tcb = decode_tcb(r->reported_tcb, r->product());
    EXPECT_EQ(tcb, (Tcb{.fmc = 0, .bootloader = 2, .tee = 0, .snp = 5, .microcode = 0x44}));
    EXPECT_EQ(tcb_to_string(tcb, r->product()), "bl=2 tee=0 snp=5 ucode=68");
    EXPECT_EQ(r->platform_info & platform_bit::kSmtEnabled, platform_bit::kSmtEnabled);
}

TEST(SnpReport, VlekReportIsVersion3MilanWithCpuid) {
    auto r = parse_report(read_data("snp/trustee/test-vlek-report.bin"));
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->signer_info, 0x4u);
    EXPECT_EQ(r->cpuid_fam_id, 0x19);
    EXPECT_EQ(r->cpuid_mod_id, 0x01);
    EXPECT_EQ(r->cpuid_step, 0x01);
    EXPECT_EQ(decode_tcb(r->reported_tcb, r->product()),
              (Tcb{.fmc = 0, .bootloader = 4, .tee = 0, .snp = 0x18, .microcode = 0xd9}));
}

TEST(SnpReport, SerializeOfParseIsTheInputForEveryVector) {
    for (const auto& v : report_vectors()) {
        SCOPED_TRACE(v.name);
        const Bytes raw = report_bytes(v.name);
        auto r = parse_report(raw);
        ASSERT_TRUE(r.has_value()) << r.error().message;
        EXPECT_EQ(to_hex(serialize_report(*r)), to_hex(raw));
    }
}

// Every byte the parser does not validate is carried: change it and the
// report still parses and serializes to the changed bytes.
TEST(SnpReportMutation, EveryFieldByteIsKeptThroughTheRoundTrip) {
    // VERSION, SIGNATURE_ALGO, SIGNER_INFO, and VMPL (0..3).
    const std::vector<std::pair<std::size_t, std::size_t>> validated = {
        {0x000, 0x004}, {0x030, 0x034}, {0x034, 0x038}, {0x048, 0x04C}};
    for (const auto& v : report_vectors()) {
        SCOPED_TRACE(v.name);
        const Bytes raw = report_bytes(v.name);
        for (std::size_t i = 0; i < kReportSize; ++i) {
            bool skip = in_zero_range(i, v.version);
            for (const auto& [b, e] : validated) skip = skip || (i >= b && i < e);
            if (skip) continue;
            Bytes m = raw;
            m[i] ^= 0xA5;
            auto r = parse_report(m);
            ASSERT_TRUE(r.has_value()) << "offset " << offset_text(i) << ": " << r.error().message;
            ASSERT_EQ(serialize_report(*r), m) << "offset " << offset_text(i);
        }
    }
}

// VMPL is 0..3 (four VMPLs): a larger one is malformed, named with its offset.
TEST(SnpReportMutation, VmplAboveThreeIsMalformed) {
    Bytes m = read_data("snp/go-sev-guest/attestation.bin");
    for (std::uint8_t vmpl : {std::uint8_t{0}, std::uint8_t{3}}) {
        m[0x030] = vmpl;
        EXPECT_TRUE(parse_report(m).has_value()) << int(vmpl);
    }
    for (std::uint32_t vmpl : {4u, 255u, 0x100u, 0xFFFFFFFFu}) {
        for (int i = 0; i < 4; ++i) m[0x030 + i] = static_cast<std::uint8_t>(vmpl >> (8 * i));
        auto r = parse_report(m);
        ASSERT_FALSE(r.has_value()) << vmpl;
        EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
        EXPECT_NE(r.error().message.find("VMPL at offset 0x030"), std::string::npos) << r.error().message;
    }
}

TEST(SnpReportMutation, TruncatedOrExtendedReportIsRefusedNamingTheSize) {
    const Bytes raw = read_data("snp/go-sev-guest/attestation.bin");
    // Field boundaries of Table 23, plus one byte short and one byte long.
    const std::vector<std::size_t> sizes = {0,     1,     0x004, 0x008, 0x010, 0x020, 0x030, 0x034, 0x038,
                                            0x040, 0x048, 0x04C, 0x050, 0x090, 0x0C0, 0x0E0, 0x110, 0x140,
                                            0x160, 0x180, 0x188, 0x1A0, 0x1E0, 0x1E8, 0x1F0, 0x1F8, 0x2A0,
                                            0x2E8, 0x330, 0x49F, 0x4A1, 0x4C0, 2600};
    for (const std::size_t n : sizes) {
        SCOPED_TRACE(n);
        Bytes m = raw;
        m.resize(n, 0);
        auto r = parse_report(m);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
        EXPECT_NE(r.error().message.find(std::to_string(n) + " bytes"), std::string::npos) << r.error().message;
    }
}

TEST(SnpReportMutation, NonZeroReservedByteIsRefusedNamingItsOffset) {
    for (const auto& v : report_vectors()) {
        SCOPED_TRACE(v.name);
        const Bytes raw = report_bytes(v.name);
        std::size_t checked = 0;
        for (const auto& range : zero_ranges(v.version)) {
            for (std::size_t i = range.begin; i < range.end; ++i) {
                Bytes m = raw;
                m[i] = 0x01;
                auto r = parse_report(m);
                ASSERT_FALSE(r.has_value()) << offset_text(i);
                EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
                ASSERT_NE(r.error().message.find("offset " + offset_text(i)), std::string::npos)
                    << r.error().message;
                ++checked;
            }
        }
        EXPECT_GT(checked, 400u);
    }
}

TEST(SnpReportMutation, CpuidBytesAreReservedInVersion2AndFieldsInVersion3) {
    Bytes v2 = read_data("snp/go-sev-guest/attestation.bin");
    v2[0x189] = 0x11;
    auto refused = parse_report(v2);
    ASSERT_FALSE(refused.has_value());
    EXPECT_NE(refused.error().message.find("0x189"), std::string::npos) << refused.error().message;

    put_le32(v2, 0x000, 3);
    v2[0x188] = 0x19;
    auto genoa = parse_report(v2);
    ASSERT_TRUE(genoa.has_value()) << genoa.error().message;
    EXPECT_EQ(genoa->product(), Product::Genoa);
}

TEST(SnpReportMutation, MitigationVectorsAreFieldsOnlyFromVersion5) {
    Bytes m = read_data("snp/trustee/test-vlek-report.bin");
    m[0x1F8] = 0x03;  // LAUNCH_MIT_VECTOR
    m[0x207] = 0x80;  // CURRENT_MIT_VECTOR, top byte
    auto v3 = parse_report(m);
    ASSERT_FALSE(v3.has_value());
    EXPECT_NE(v3.error().message.find("0x1f8"), std::string::npos) << v3.error().message;

    put_le32(m, 0x000, 5);
    auto v5 = parse_report(m);
    ASSERT_TRUE(v5.has_value()) << v5.error().message;
    EXPECT_EQ(v5->launch_mit_vector, 0x3u);
    EXPECT_EQ(v5->current_mit_vector, 0x8000000000000000ULL);
    EXPECT_EQ(serialize_report(*v5), m);
}

TEST(SnpReportMutation, UnknownVersionIsRefused) {
    const Bytes raw = read_data("snp/trustee/test-vlek-report.bin");
    for (const std::uint32_t version : {0U, 1U, 6U, 0x100U, 0xFFFFFFFFU}) {
        SCOPED_TRACE(version);
        Bytes m = raw;
        put_le32(m, 0x000, version);
        auto r = parse_report(m);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
        EXPECT_NE(r.error().message.find("VERSION"), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find(std::to_string(version)), std::string::npos) << r.error().message;
    }
    // Version 4 is issued by firmware 1.55.31 with the version 3 layout.
    Bytes v4 = raw;
    put_le32(v4, 0x000, 4);
    auto r = parse_report(v4);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->product(), Product::Milan);
}

TEST(SnpReportMutation, SignatureAlgorithmOtherThanEcdsaP384IsRefused) {
    const Bytes raw = read_data("snp/go-sev-guest/attestation.bin");
    for (const std::uint32_t algo : {0U, 2U, 0x100U}) {
        SCOPED_TRACE(algo);
        Bytes m = raw;
        put_le32(m, 0x034, algo);
        auto r = parse_report(m);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
        EXPECT_NE(r.error().message.find("SIGNATURE_ALGO"), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find("0x034"), std::string::npos) << r.error().message;
    }
}

TEST(SnpReportMutation, SignerInfoReservedBitsAndKeysAreRefused) {
    const Bytes raw = read_data("snp/go-sev-guest/attestation.bin");
    struct Case {
        std::uint32_t signer_info;
        std::optional<SigningKey> accepted;  // nullopt: refused
    };
    const std::vector<Case> cases = {
        {0x00, SigningKey::Vcek}, {0x04, SigningKey::Vlek}, {0x1C, SigningKey::None}, {0x03, SigningKey::Vcek},
        {0x08, std::nullopt},     {0x18, std::nullopt},     {0x20, std::nullopt},     {0x80000000U, std::nullopt},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.signer_info);
        Bytes m = raw;
        put_le32(m, 0x048, c.signer_info);
        auto r = parse_report(m);
        if (c.accepted) {
            ASSERT_TRUE(r.has_value()) << r.error().message;
            EXPECT_EQ(r->signing_key(), *c.accepted);
            EXPECT_EQ(r->mask_chip_id(), (c.signer_info & 2U) != 0);
        } else {
            ASSERT_FALSE(r.has_value());
            EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
            EXPECT_NE(r.error().message.find("SIGNER_INFO"), std::string::npos) << r.error().message;
        }
    }
}

TEST(SnpReport, ProductFollowsCpuidFamilyAndModel) {
    struct Case {
        std::uint32_t version;
        std::uint8_t family, model;
        Product expected;
    };
    const std::vector<Case> cases = {
        {3, 0x19, 0x00, Product::Milan},   {3, 0x19, 0x01, Product::Milan},   {3, 0x19, 0x0F, Product::Milan},
        {3, 0x19, 0x10, Product::Genoa},   {3, 0x19, 0x11, Product::Genoa},   {3, 0x19, 0x1F, Product::Genoa},
        {3, 0x19, 0xA0, Product::Genoa},   {3, 0x19, 0xAF, Product::Genoa},   {3, 0x19, 0x20, Product::Unknown},
        {3, 0x19, 0xB0, Product::Unknown}, {5, 0x1A, 0x02, Product::Turin},   {5, 0x1A, 0x11, Product::Turin},
        {5, 0x1A, 0x12, Product::Unknown}, {3, 0x17, 0x31, Product::Unknown}, {2, 0x19, 0x01, Product::Unknown},
    };
    for (const auto& c : cases) {
        Report r;
        r.version = c.version;
        r.cpuid_fam_id = c.family;
        r.cpuid_mod_id = c.model;
        EXPECT_EQ(r.product(), c.expected) << std::hex << int{c.family} << "/" << int{c.model} << " v" << c.version;
    }
    EXPECT_STREQ(product_name(Product::Milan), "Milan");
    EXPECT_STREQ(product_name(Product::Genoa), "Genoa");
    EXPECT_STREQ(product_name(Product::Turin), "Turin");
    EXPECT_STREQ(product_name(Product::Unknown), "unknown");
}

TEST(SnpTcb, DecodeFollowsTheProductLayout) {
    struct Case {
        std::uint64_t raw;
        Product product;
        Tcb expected;
    };
    const std::vector<Case> cases = {
        {0x4405000000000002ULL, Product::Milan, {.fmc = 0, .bootloader = 2, .tee = 0, .snp = 5, .microcode = 0x44}},
        {0x4405000000000002ULL, Product::Unknown, {.fmc = 0, .bootloader = 2, .tee = 0, .snp = 5, .microcode = 0x44}},
        {0xd918000000000004ULL, Product::Genoa, {.fmc = 0, .bootloader = 4, .tee = 0, .snp = 0x18, .microcode = 0xd9}},
        {0x4400000004030201ULL, Product::Turin, {.fmc = 1, .bootloader = 2, .tee = 3, .snp = 4, .microcode = 0x44}},
        // Reserved bytes do not leak into components.
        {0x4405ffffffff0002ULL, Product::Milan, {.fmc = 0, .bootloader = 2, .tee = 0, .snp = 5, .microcode = 0x44}},
        {0x44ffffff04030201ULL, Product::Turin, {.fmc = 1, .bootloader = 2, .tee = 3, .snp = 4, .microcode = 0x44}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.raw);
        EXPECT_EQ(decode_tcb(c.raw, c.product), c.expected);
    }
}

TEST(SnpTcb, EncodeAndDecodeRoundTripForBothLayouts) {
    for (const Product product : {Product::Milan, Product::Genoa, Product::Turin, Product::Unknown}) {
        SCOPED_TRACE(product_name(product));
        const bool turin = product == Product::Turin;
        for (const std::uint64_t raw : {0x4405000000000002ULL, 0xd918000000000004ULL, 0xdb1800000000000aULL,
                                        0x4400000004030201ULL, 0xff000000ff0000ffULL, 0ULL}) {
            const bool fits = turin ? (raw & 0x00FFFFFF00000000ULL) == 0 : (raw & 0x0000FFFFFFFF0000ULL) == 0;
            if (!fits) continue;
            EXPECT_EQ(encode_tcb(decode_tcb(raw, product), product), raw) << std::hex << raw;
        }
        const Tcb tcb{.fmc = static_cast<std::uint8_t>(turin ? 7 : 0), .bootloader = 9, .tee = 1, .snp = 23,
                      .microcode = 213};
        EXPECT_EQ(decode_tcb(encode_tcb(tcb, product), product), tcb);
    }
    EXPECT_EQ(encode_tcb({.fmc = 1, .bootloader = 2, .tee = 3, .snp = 4, .microcode = 0x44}, Product::Turin),
              0x4400000004030201ULL);
    EXPECT_EQ(encode_tcb({.fmc = 0, .bootloader = 2, .tee = 0, .snp = 5, .microcode = 0x44}, Product::Milan),
              0x4405000000000002ULL);
}

TEST(SnpTcb, AtLeastComparesEveryComponent) {
    const Tcb base{.fmc = 1, .bootloader = 2, .tee = 3, .snp = 4, .microcode = 5};
    EXPECT_TRUE(tcb_at_least(base, base));
    EXPECT_TRUE(tcb_at_least(base, Tcb{}));
    EXPECT_FALSE(tcb_at_least(Tcb{}, base));
    for (std::uint8_t Tcb::*field : {&Tcb::fmc, &Tcb::bootloader, &Tcb::tee, &Tcb::snp, &Tcb::microcode}) {
        Tcb higher = base;
        higher.*field = static_cast<std::uint8_t>(higher.*field + 1);
        EXPECT_TRUE(tcb_at_least(higher, base));
        EXPECT_FALSE(tcb_at_least(base, higher));
        Tcb mixed = higher;  // one component up, another down: not at least
        std::uint8_t Tcb::*other = field == &Tcb::microcode ? &Tcb::snp : &Tcb::microcode;
        mixed.*other = static_cast<std::uint8_t>(mixed.*other - 1);
        EXPECT_FALSE(tcb_at_least(mixed, base));
    }
}

TEST(SnpTcb, ToStringNamesTheProductComponents) {
    const Tcb tcb{.fmc = 1, .bootloader = 2, .tee = 3, .snp = 4, .microcode = 68};
    EXPECT_EQ(tcb_to_string(tcb, Product::Turin), "fmc=1 bl=2 tee=3 snp=4 ucode=68");
    EXPECT_EQ(tcb_to_string(tcb, Product::Genoa), "bl=2 tee=3 snp=4 ucode=68");
}

}  // namespace
}  // namespace cvmunlock::snp
