// The host's certificate table, the file source and the evidence-kind names.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "cvmunlock/hcl_report.hpp"
#include "cvmunlock/snp_report.hpp"
#include "cvmunlock/snp_source.hpp"
#include "snp/cert_table.hpp"
#include "snp/file_source.hpp"

namespace cvmunlock::snp {
namespace {

std::string data(const std::string& rel) { return std::string(CVMUNLOCK_TEST_DATA) + "/" + rel; }

Bytes read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string temp_file(const std::string& name, const Bytes& content) {
    const std::string path = ::testing::TempDir() + "snp_" + name;
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(content.data()),
                                                 static_cast<std::streamsize>(content.size()));
    return path;
}

TEST(CertTableGuid, KnownGuidsMapToRoles) {
    const std::pair<const char*, CertRole> cases[] = {
        {kVcekGuid, CertRole::Vcek}, {kVlekGuid, CertRole::Vlek}, {kAskGuid, CertRole::Ask},
        {kArkGuid, CertRole::Ark}, {"92f81bc3-5811-4d3d-97ff-d19f88dc67ea", CertRole::Unknown}};
    for (const auto& [text, role] : cases) {
        auto g = guid_from_string(text);
        ASSERT_TRUE(g.has_value()) << text;
        EXPECT_EQ(cert_role_for_guid(*g), role) << text;
        EXPECT_EQ(guid_to_string(*g), text);
    }
    // Wire order is the order the text is written in (uuid_parse), not the
    // mixed-endian Microsoft GUID layout.
    EXPECT_EQ((*guid_from_string(kVcekGuid))[0], 0x63);
    EXPECT_EQ((*guid_from_string(kVcekGuid))[3], 0x8d);
    EXPECT_FALSE(guid_from_string("63da758d-e664-4564-adc5-f4b93be8accX"));
    EXPECT_FALSE(guid_from_string("63da758de664-4564-adc5-f4b93be8accd0"));
}

std::vector<CertTableEntry> sample_entries() {
    return {{*guid_from_string(kVcekGuid), CertRole::Vcek, Bytes(100, 0x11)},
            {*guid_from_string(kAskGuid), CertRole::Ask, Bytes(50, 0x22)},
            {*guid_from_string(kArkGuid), CertRole::Ark, Bytes(70, 0x33)}};
}

TEST(CertTable, BuildParseRoundTripWithPageSlack) {
    Bytes blob = build_cert_table(sample_entries());
    blob.resize(4096, 0);  // the driver hands out whole zero-filled pages
    auto parsed = parse_cert_table(blob, "test");
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
    ASSERT_EQ(parsed->size(), 3u);
    const auto expected = sample_entries();
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ((*parsed)[i].role, expected[i].role);
        EXPECT_EQ((*parsed)[i].der, expected[i].der);
    }
    EXPECT_EQ(known_certificates(*parsed).size(), 3u);
}

TEST(CertTable, EmptyOrAllZeroIsNoCertificates) {
    EXPECT_TRUE(parse_cert_table({}, "t")->empty());
    EXPECT_TRUE(parse_cert_table(Bytes(4096, 0), "t")->empty());
}

struct Mutation {
    const char* name;
    void (*apply)(Bytes&);
    const char* says;
};

TEST(CertTable, MutationsAreInvalidInputNamingTheEntry) {
    const Mutation cases[] = {
        {"no terminator", [](Bytes& b) { b.resize(3 * kCertTableEntrySize); }, "no all-zero terminator"},
        {"truncated certificate", [](Bytes& b) { b.resize(b.size() - 1); }, "past the end"},
        {"offset past end",
         [](Bytes& b) { b[kCertTableEntrySize + kCertEntryOffsetField + 1] = 0xff; }, "past the end"},
        {"offset into table", [](Bytes& b) { b[kCertEntryOffsetField] = 8; }, "points into the table"},
        {"zero length",
         [](Bytes& b) {
             for (std::size_t i = 0; i < 4; ++i) b[2 * kCertTableEntrySize + kCertEntryLengthField + i] = 0;
         },
         "length is zero"},
    };
    for (const Mutation& m : cases) {
        Bytes blob = build_cert_table(sample_entries());
        m.apply(blob);
        auto parsed = parse_cert_table(blob, "auxblob");
        ASSERT_FALSE(parsed.has_value()) << m.name;
        EXPECT_EQ(parsed.error().code, ErrorCode::InvalidInput) << m.name;
        EXPECT_NE(parsed.error().message.find(m.says), std::string::npos) << m.name << ": " << parsed.error().message;
        EXPECT_NE(parsed.error().message.find("auxblob"), std::string::npos) << m.name;
    }
}

TEST(FileSource, RawReportFromGoSevGuest) {
    const std::string path = data("snp/go-sev-guest/attestation.bin");
    FileSource source(path);
    auto ev = source.fetch(ReportData{});
    ASSERT_TRUE(ev.has_value()) << ev.error().message;
    EXPECT_EQ(ev->kind, EvidenceKind::File);
    EXPECT_EQ(ev->origin, path);
    EXPECT_EQ(ev->report, read_bytes(path));
    EXPECT_TRUE(ev->hcl_report.empty());
}

TEST(FileSource, AzureHclReportKeepsBothForms) {
    const std::string path = data("snp/trustee/azure-hcl-report.bin");
    const Bytes whole = read_bytes(path);
    FileSource source(path);
    auto ev = source.fetch(ReportData{});
    ASSERT_TRUE(ev.has_value()) << ev.error().message;
    EXPECT_EQ(ev->hcl_report, whole);
    ASSERT_EQ(ev->report.size(), kReportSize);
    EXPECT_TRUE(std::equal(ev->report.begin(), ev->report.end(), whole.begin() + hcl::kHwReportOffset));
}

TEST(FileSource, CertificatesFromAPemBundleBecomeDer) {
    FileSource source(data("snp/go-sev-guest/attestation.bin"),
                      {data("snp/go-sev-guest/vcek.testcer"), data("snp/amd-roots/ask_ark_milan.pem")});
    auto ev = source.fetch(ReportData{});
    ASSERT_TRUE(ev.has_value()) << ev.error().message;
    ASSERT_EQ(ev->certs.size(), 3u);
    EXPECT_EQ(ev->certs[0], read_bytes(data("snp/go-sev-guest/vcek.testcer")));
}

TEST(FileSource, TruncatedReportIsInvalidInputNamingThePath) {
    Bytes report = read_bytes(data("snp/go-sev-guest/attestation.bin"));
    report.resize(kReportSize - 1);
    const std::string path = temp_file("truncated.bin", report);
    auto ev = FileSource(path).fetch(ReportData{});
    ASSERT_FALSE(ev.has_value());
    EXPECT_EQ(ev.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(ev.error().message.find(path), std::string::npos) << ev.error().message;
}

TEST(FileSource, MissingFileIsUnavailable) {
    auto ev = FileSource("/nonexistent/report.bin").fetch(ReportData{});
    ASSERT_FALSE(ev.has_value());
    EXPECT_EQ(ev.error().code, ErrorCode::Unavailable);
}

TEST(EvidenceKindName, RoundTripsEveryKind) {
    for (EvidenceKind k : {EvidenceKind::Auto, EvidenceKind::SevGuest, EvidenceKind::Tsm, EvidenceKind::AzureHcl,
                           EvidenceKind::File}) {
        auto back = evidence_kind_from_name(evidence_kind_name(k));
        ASSERT_TRUE(back.has_value()) << evidence_kind_name(k);
        EXPECT_EQ(*back, k);
    }
    EXPECT_STREQ(evidence_kind_name(EvidenceKind::SevGuest), "sev-guest");
    EXPECT_STREQ(evidence_kind_name(EvidenceKind::AzureHcl), "azure-hcl");
    EXPECT_FALSE(evidence_kind_from_name("SEV-GUEST").has_value());
    EXPECT_FALSE(evidence_kind_from_name("").has_value());
}

}  // namespace
}  // namespace cvmunlock::snp
