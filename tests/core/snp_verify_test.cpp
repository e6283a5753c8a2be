// Offline verification of real SEV-SNP reports and AMD chains, of mutations of
// them, and of reports signed by the test AMD-style chain.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <set>
#include <string>
#include <vector>

#include "cvmunlock/hcl_report.hpp"
#include "cvmunlock/snp_verify.hpp"
#include "snp_test_chain.hpp"
#include "snp_test_vectors.hpp"
#include "test_data.hpp"

namespace cvmunlock::snp {
namespace {

using testing::read_data;
using testing::k2022_01_01;
using testing::k2025_06_01;
using testing::k2026_01_01;
using testing::load_certs;
using testing::load_trust;




// The raw 0x4A0-byte report: a file, the SNP report inside an Azure HCL report,
// or inside the HCL report that Azure evidence JSON carries as a byte list.
Bytes report_bytes(const std::string& file) {
    Bytes raw = read_data(file);
    if (file.ends_with(".json")) {
        const auto doc = nlohmann::json::parse(raw.begin(), raw.end());
        raw = doc.at("report").get<Bytes>();
    }
    if (hcl::looks_like_hcl(raw)) {
        const auto begin = raw.begin() + static_cast<std::ptrdiff_t>(hcl::kHwReportOffset);
        return Bytes(begin, begin + static_cast<std::ptrdiff_t>(kReportSize));
    }
    return raw;
}

struct Outcome {
    std::expected<VerifiedChain, VerifyFailure> result;
    [[nodiscard]] std::string check() const { return result ? "" : result.error().check; }
    [[nodiscard]] std::string detail() const { return result ? "" : result.error().detail; }
};

Outcome verify(const Bytes& bytes, const std::vector<Certificate>& certs, const TrustStore& trust, std::time_t at) {
    auto parsed = parse_report(bytes);
    if (!parsed) return {std::unexpected(VerifyFailure{"parse", parsed.error().message})};
    return {verify_report(bytes, *parsed, certs, trust, at)};
}

struct ReportCase {
    std::string name;
    std::string report;
    std::vector<std::string> certs;
    std::vector<std::string> trust;
    std::time_t at;
    std::string check;  // "" = valid
    std::string detail_has;
};

const std::string kMilan = "snp/amd-roots/ask_ark_milan.pem";
const std::string kMilanVlek = "snp/amd-roots/ask_ark_milan_vlek.pem";
const std::string kGenoa = "snp/amd-roots/ask_ark_genoa.pem";
const std::string kGoReport = "snp/go-sev-guest/attestation.bin";
const std::string kGoVcek = "snp/go-sev-guest/vcek.testcer";
const std::string kTrusteeReport = "snp/trustee/test-report.bin";
const std::string kVlekReport = "snp/trustee/test-vlek-report.bin";

void PrintTo(const ReportCase& c, std::ostream* os) { *os << c.name; }

class SnpVerifyReport : public ::testing::TestWithParam<ReportCase> {};

TEST_P(SnpVerifyReport, RealVectors) {
    const ReportCase& c = GetParam();
    const Outcome out = verify(report_bytes(c.report), load_certs(c.certs), load_trust(c.trust), c.at);
    EXPECT_EQ(out.check(), c.check) << out.detail();
    EXPECT_NE(out.detail().find(c.detail_has), std::string::npos) << out.detail();
    if (out.result) {
        EXPECT_EQ(out.result->path.size(), 3U);
        EXPECT_EQ(out.result->path.back().role(), CertRole::Ark);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Vectors, SnpVerifyReport,
    ::testing::Values(
        ReportCase{"go_sev_guest", kGoReport, {kGoVcek, kMilan}, {kMilan}, k2025_06_01, "", ""},
        ReportCase{"go_sev_guest_ask_from_trust", kGoReport, {kGoVcek}, {kMilan}, k2025_06_01, "", ""},
        ReportCase{"trustee", kTrusteeReport, {"snp/trustee/test-vcek.der"}, {kMilan}, k2025_06_01, "", ""},
        ReportCase{"trustee_other_chip_legacy", kTrusteeReport, {"snp/trustee/test-vcek-invalid-legacy.der"},
                   {kMilan}, k2025_06_01, "chain", "SEV-VCEK"},
        ReportCase{"trustee_other_chip_new", kTrusteeReport, {"snp/trustee/test-vcek-invalid-new.der"}, {kMilan},
                   k2025_06_01, "chain", "SEV-Milan"},
        ReportCase{"trustee_with_go_vcek", kTrusteeReport, {kGoVcek}, {kMilan}, k2025_06_01, "chip-id", ""},
        ReportCase{"vlek", kVlekReport, {"snp/trustee/test-vlek.der", kMilanVlek}, {kMilanVlek}, k2025_06_01, "",
                   ""},
        ReportCase{"vlek_expired", kVlekReport, {"snp/trustee/test-vlek.der", kMilanVlek}, {kMilanVlek},
                   k2026_01_01, "expiry", "SEV-VLEK expired at notAfter 2025-12-10"},
        ReportCase{"vlek_report_vcek_cert", kVlekReport, {kGoVcek, kMilan}, {kMilan}, k2025_06_01, "key", "VLEK"},
        ReportCase{"vlek_with_vcek_roots", kVlekReport, {"snp/trustee/test-vlek.der"}, {kMilan}, k2025_06_01,
                   "chain", "SEV-VLEK-Milan"},
        ReportCase{"azure_hcl", "snp/trustee/azure-hcl-report.bin", {"snp/trustee/azure-vcek.pem"}, {kMilan},
                   k2025_06_01, "", ""},
        ReportCase{"azure_genoa", "snp/trustee/azure-evidence-genoa.json", {"snp/trustee/azure-vcek-genoa.pem"},
                   {kGenoa}, k2025_06_01, "", ""},
        ReportCase{"not_yet_valid", kGoReport, {kGoVcek, kMilan}, {kMilan}, k2022_01_01, "expiry",
                   "SEV-VCEK is not valid before notBefore 2022-09-24"},
        ReportCase{"empty_trust", kGoReport, {kGoVcek, kMilan}, {}, k2025_06_01, "trust", "no ARK"},
        ReportCase{"supplied_ark_not_trusted", kGoReport, {kGoVcek, kMilan}, {kGenoa}, k2025_06_01, "trust",
                   "not in the trust store"},
        ReportCase{"no_ask_anywhere", kGoReport, {kGoVcek}, {kGenoa}, k2025_06_01, "chain", "SEV-Milan"},
        ReportCase{"genoa_report_milan_roots", "snp/trustee/azure-evidence-genoa.json",
                   {"snp/trustee/azure-vcek-genoa.pem", kMilan}, {kMilan}, k2025_06_01, "chain", "SEV-Genoa"}),
    [](const ::testing::TestParamInfo<ReportCase>& param_info) { return param_info.param.name; });

// The attestation.bin mutations: each field's first byte +1, and what refuses it.
struct Mutation {
    std::string name;
    std::string report;
    std::vector<std::string> certs;
    std::string trust;
    std::time_t at;
    std::size_t offset;
    std::string check;
    std::string detail_has;
};

void PrintTo(const Mutation& m, std::ostream* os) { *os << m.name; }

class SnpVerifyMutation : public ::testing::TestWithParam<Mutation> {};

TEST_P(SnpVerifyMutation, IsRefusedByTheRightCheck) {
    const Mutation& m = GetParam();
    Bytes bytes = report_bytes(m.report);
    const auto certs = load_certs(m.certs);
    const TrustStore trust = load_trust({m.trust});
    ASSERT_EQ(verify(bytes, certs, trust, m.at).check(), "");
    ++bytes.at(m.offset);
    const Outcome out = verify(bytes, certs, trust, m.at);
    EXPECT_EQ(out.check(), m.check) << out.detail();
    EXPECT_NE(out.detail().find(m.detail_has), std::string::npos) << out.detail();
}

INSTANTIATE_TEST_SUITE_P(
    Fields, SnpVerifyMutation,
    ::testing::Values(
        Mutation{"vlek_image_id", kVlekReport, {"snp/trustee/test-vlek.der", kMilanVlek}, kMilanVlek, k2025_06_01,
                 42, "signature", "0x000..0x29F"},
        Mutation{"vlek_reported_tcb", kVlekReport, {"snp/trustee/test-vlek.der", kMilanVlek}, kMilanVlek,
                 k2025_06_01, 384, "tcb", "REPORTED_TCB bl=5 but the SEV-VLEK blSPL is 4"},
        Mutation{"guest_svn", kGoReport, {kGoVcek}, kMilan, k2025_06_01, 0x04, "signature", "SEV-VCEK"},
        Mutation{"policy", kGoReport, {kGoVcek}, kMilan, k2025_06_01, 0x08, "signature", ""},
        Mutation{"report_data", kGoReport, {kGoVcek}, kMilan, k2025_06_01, 0x50, "signature", ""},
        Mutation{"measurement", kGoReport, {kGoVcek}, kMilan, k2025_06_01, 0x90, "signature", ""},
        Mutation{"author_key_en", kGoReport, {kGoVcek}, kMilan, k2025_06_01, 0x48, "signature", ""},
        Mutation{"reported_tcb_ucode", kGoReport, {kGoVcek}, kMilan, k2025_06_01, 0x187, "tcb", "ucode"},
        Mutation{"reported_tcb_snp", kGoReport, {kGoVcek}, kMilan, k2025_06_01, 0x186, "tcb", "snpSPL"},
        Mutation{"chip_id", kGoReport, {kGoVcek}, kMilan, k2025_06_01, 0x1A0, "chip-id", "CHIP_ID"},
        Mutation{"chip_id_last", kGoReport, {kGoVcek}, kMilan, k2025_06_01, 0x1DF, "chip-id", ""},
        Mutation{"signature_r", kGoReport, {kGoVcek}, kMilan, k2025_06_01, 0x2A0, "signature", ""},
        Mutation{"signature_s", kGoReport, {kGoVcek}, kMilan, k2025_06_01, 0x2E8, "signature", ""},
        Mutation{"signature_r_padding", kGoReport, {kGoVcek}, kMilan, k2025_06_01, 0x2A0 + 60, "signature", ""}),
    [](const ::testing::TestParamInfo<Mutation>& param_info) { return param_info.param.name; });

// Any change to the signed area is refused: by the parser (must-be-zero,
// version) or by a verification check, never accepted.
TEST(SnpVerifyMutationSweep, EverySignedByteOfAttestationBin) {
    const Bytes original = report_bytes(kGoReport);
    const auto certs = load_certs({kGoVcek, kMilan});
    const TrustStore trust = load_trust({kMilan});
    std::set<std::string> checks;
    for (const std::uint8_t mask : std::initializer_list<std::uint8_t>{0x01, 0x04}) {  // 0x04 at 0x48 reaches SIGNER_INFO SIGNING_KEY
        for (std::size_t offset = 0; offset < kSignedSize; ++offset) {
            Bytes bytes = original;
            bytes[offset] ^= mask;
            const Outcome out = verify(bytes, certs, trust, k2025_06_01);
            ASSERT_NE(out.check(), "") << "flipping byte 0x" << std::hex << offset << " was accepted";
            checks.insert(out.check());
        }
    }
    // The sweep reaches the parser and each report-bound check.
    for (const char* expected : {"parse", "signature", "tcb", "chip-id", "key"}) {
        EXPECT_TRUE(checks.contains(expected)) << expected;
    }
}

TEST(SnpVerifyReportBytes, TruncatedOrInconsistentIsMalformed) {
    const Bytes bytes = report_bytes(kGoReport);
    auto parsed = parse_report(bytes);
    ASSERT_TRUE(parsed.has_value());
    const auto certs = load_certs({kGoVcek});
    const TrustStore trust = load_trust({kMilan});
    const Bytes truncated(bytes.begin(), bytes.end() - 1);
    auto r = verify_report(truncated, *parsed, certs, trust, k2025_06_01);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().check, "malformed");
    EXPECT_NE(r.error().detail.find("0x4A0"), std::string::npos);

    Report other = *parsed;
    other.chip_id[0] ^= 1;  // the parsed report no longer describes the bytes
    r = verify_report(bytes, other, certs, trust, k2025_06_01);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().check, "malformed");
}

TEST(SnpVerifyReportBytes, UnsignedReportIsRefusedByKey) {
    Bytes bytes = report_bytes(kGoReport);
    bytes[0x48] |= 0x1C;  // SIGNER_INFO SIGNING_KEY = 7, no signature
    auto parsed = parse_report(bytes);
    ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
    const auto r = verify_report(bytes, *parsed, load_certs({kGoVcek}), load_trust({kMilan}), k2025_06_01);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().check, "key");
    EXPECT_NE(r.error().detail.find("not signed"), std::string::npos);
}

TEST(SnpVerifyReportBytes, ResultNamesProductAndKey) {
    auto out = verify(report_bytes(kGoReport), load_certs({kGoVcek}), load_trust({kMilan}), k2025_06_01);
    ASSERT_TRUE(out.result.has_value()) << out.detail();
    EXPECT_EQ(out.result->product, Product::Milan);
    EXPECT_EQ(out.result->key_role, CertRole::Vcek);
    EXPECT_EQ(out.result->path[0].role(), CertRole::Vcek);
    EXPECT_EQ(out.result->path[1].role(), CertRole::Ask);

    out = verify(report_bytes(kVlekReport), load_certs({"snp/trustee/test-vlek.der"}), load_trust({kMilanVlek}),
                 k2025_06_01);
    ASSERT_TRUE(out.result.has_value()) << out.detail();
    EXPECT_EQ(out.result->key_role, CertRole::Vlek);
    EXPECT_EQ(out.result->path[1].role(), CertRole::Asvk);
}

// Reports signed by the test AMD-style chain (tests/support/snp_test_chain.hpp).
struct TestChainCase {
    Product product;
    bool vlek;
};

void PrintTo(const TestChainCase& c, std::ostream* os) { *os << product_name(c.product) << (c.vlek ? "/VLEK" : ""); }

class SnpVerifyTestChain : public ::testing::TestWithParam<TestChainCase> {
protected:
    static testing::TestChain make_chain(const TestChainCase& c, std::uint64_t tcb) {
        testing::TestChainOptions options;
        options.product = c.product;
        options.vlek = c.vlek;
        options.reported_tcb = tcb;
        return testing::TestChain(options);
    }
    static std::vector<Certificate> certs_of(const testing::TestChain& chain) {
        auto certs = Certificate::load_all(chain.chain_pem(), "chain");
        auto leaf = Certificate::from_der(chain.vcek_der(), "leaf");
        EXPECT_TRUE(certs && leaf);
        std::vector<Certificate> out{*leaf};
        out.insert(out.end(), certs->begin(), certs->end());
        return out;
    }
    static TrustStore trust_of(const testing::TestChain& chain) {
        TrustStore trust;
        EXPECT_TRUE(trust.add(chain.ark_pem(), "test ARK").has_value());
        return trust;
    }
    static std::uint64_t tcb_for(Product p) { return encode_tcb(Tcb{1, 3, 0, 8, 0x73}, p); }
};

TEST_P(SnpVerifyTestChain, SignedReportVerifiesOnlyWithTheTestArkTrusted) {
    const TestChainCase& c = GetParam();
    const testing::TestChain chain = make_chain(c, tcb_for(c.product));
    ReportData data{};
    data[0] = 0xAB;
    Report report = chain.make_report(data);
    const Bytes bytes = chain.sign(report);
    const auto certs = certs_of(chain);
    const std::time_t now = std::time(nullptr);

    const Outcome ok = verify(bytes, certs, trust_of(chain), now);
    ASSERT_TRUE(ok.result.has_value()) << ok.detail();
    EXPECT_EQ(ok.result->product, c.product);
    EXPECT_EQ(ok.result->key_role, c.vlek ? CertRole::Vlek : CertRole::Vcek);
    EXPECT_EQ(verify(bytes, {certs[0]}, trust_of(chain), now).check(), "chain");  // no ASK anywhere
    EXPECT_EQ(verify(bytes, certs, TrustStore{}, now).check(), "trust");
    // The real AMD roots of the same product carry the same names but other keys.
    const std::string p = product_name(c.product);
    std::string lower = p;
    lower[0] = static_cast<char>(lower[0] - 'A' + 'a');
    const TrustStore amd = load_trust({"snp/amd-roots/ask_ark_" + lower + (c.product == Product::Turin ? "_vcek" : "") +
                                       ".pem"});
    const Outcome refused = verify(bytes, certs, amd, now);
    EXPECT_EQ(refused.check(), "trust");
    EXPECT_NE(refused.detail().find("ARK-" + p), std::string::npos) << refused.detail();
}

// An ASK/ASVK whose keyUsage does not allow signing certificates: every
// signature and name fits, but it may not issue the VCEK. OpenSSL's X.509
// verifier (run on the built path) refuses it, naming the certificate.
TEST_P(SnpVerifyTestChain, IssuerThatMayNotSignCertificatesIsRefused) {
    const TestChainCase& c = GetParam();
    testing::TestChainOptions options;
    options.product = c.product;
    options.vlek = c.vlek;
    options.reported_tcb = tcb_for(c.product);
    options.ask_may_sign_certs = false;
    const testing::TestChain chain(options);
    Report report = chain.make_report();
    const Bytes bytes = chain.sign(report);
    const Outcome refused = verify(bytes, certs_of(chain), trust_of(chain), std::time(nullptr));
    EXPECT_EQ(refused.check(), "chain") << refused.detail();
    EXPECT_NE(refused.detail().find("OpenSSL"), std::string::npos) << refused.detail();
    // The same chain with a keyCertSign issuer verifies (the control).
    options.ask_may_sign_certs = true;
    const testing::TestChain good(options);
    Report r2 = good.make_report();
    const Bytes b2 = good.sign(r2);
    EXPECT_TRUE(verify(b2, certs_of(good), trust_of(good), std::time(nullptr)).result.has_value());
}

TEST_P(SnpVerifyTestChain, SelfMadeChainWithTheSameNamesIsRefused) {
    const TestChainCase& c = GetParam();
    const testing::TestChain trusted = make_chain(c, tcb_for(c.product));
    const testing::TestChain forged = make_chain(c, tcb_for(c.product));
    Report report = forged.make_report();
    const Bytes bytes = forged.sign(report);
    const Outcome out = verify(bytes, certs_of(forged), trust_of(trusted), std::time(nullptr));
    EXPECT_EQ(out.check(), "trust");
    EXPECT_NE(out.detail().find("other key"), std::string::npos) << out.detail();
    // The forged VCEK with the trusted ASK: the ASK's signature on it fails.
    const auto trusted_certs = certs_of(trusted);
    const Outcome mixed =
        verify(bytes, {certs_of(forged)[0], trusted_certs[1]}, trust_of(trusted), std::time(nullptr));
    EXPECT_EQ(mixed.check(), "chain");
}

TEST_P(SnpVerifyTestChain, ResignedMismatchesAreRefusedByTheirOwnCheck) {
    const TestChainCase& c = GetParam();
    const testing::TestChain chain = make_chain(c, tcb_for(c.product));
    const auto certs = certs_of(chain);
    const TrustStore trust = trust_of(chain);
    const std::time_t now = std::time(nullptr);

    Report report = chain.make_report();
    Tcb tcb = decode_tcb(report.reported_tcb, c.product);
    ++tcb.snp;
    report.reported_tcb = encode_tcb(tcb, c.product);
    Outcome out = verify(chain.sign(report), certs, trust, now);
    EXPECT_EQ(out.check(), "tcb");
    EXPECT_NE(out.detail().find("snpSPL"), std::string::npos) << out.detail();

    report = chain.make_report();
    report.chip_id[7] ^= 0xFF;  // inside the hwID on every product
    out = verify(chain.sign(report), certs, trust, now);
    EXPECT_EQ(out.check(), c.vlek ? "" : "chip-id") << out.detail();  // a VLEK has no hwID

    report = chain.make_report();
    report.chip_id.fill(0);
    report.signer_info |= 2U;  // MASK_CHIP_KEY: CHIP_ID zeroed, not compared
    out = verify(chain.sign(report), certs, trust, now);
    EXPECT_EQ(out.check(), "") << out.detail();

    report = chain.make_report();
    report.signer_info = static_cast<std::uint32_t>(SigningKey::None) << 2;
    out = verify(chain.sign(report), certs, trust, now);
    EXPECT_EQ(out.check(), "key");
}

INSTANTIATE_TEST_SUITE_P(Products, SnpVerifyTestChain,
                         ::testing::Values(TestChainCase{Product::Milan, false}, TestChainCase{Product::Milan, true},
                                           TestChainCase{Product::Genoa, false}, TestChainCase{Product::Turin, false},
                                           TestChainCase{Product::Turin, true}));

TEST(SnpVerifyTestChainExpiry, CertificatesOutsideTheirValidityAreRefused) {
    testing::TestChainOptions options;
    options.not_before = -7200;
    options.not_after = -3600;  // expired an hour ago
    const testing::TestChain chain(options);
    Report report = chain.make_report();
    const Bytes bytes = chain.sign(report);
    auto certs = Certificate::load_all(chain.chain_pem(), "chain");
    auto leaf = Certificate::from_der(chain.vcek_der(), "leaf");
    ASSERT_TRUE(certs && leaf);
    certs->push_back(*leaf);
    TrustStore trust;
    ASSERT_TRUE(trust.add(chain.ark_pem(), "ark").has_value());
    const std::time_t now = std::time(nullptr);
    EXPECT_EQ(verify(bytes, *certs, trust, now).check(), "expiry");
    EXPECT_EQ(verify(bytes, *certs, trust, now - 5400).check(), "");
    const Outcome early = verify(bytes, *certs, trust, now - 10000);
    EXPECT_EQ(early.check(), "expiry");
    EXPECT_NE(early.detail().find("not valid before"), std::string::npos) << early.detail();
}

}  // namespace
}  // namespace cvmunlock::snp
