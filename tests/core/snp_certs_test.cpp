// AMD certificates: loading, roles, products, VCEK/VLEK extensions and the
// trust store, over the real AMD vectors and the test chain.
#include <gtest/gtest.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <string>
#include <vector>

#include "cvmunlock/snp_builtin_roots.hpp"
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

std::vector<Certificate> load(const std::string& relative) {
    auto certs = Certificate::load_all(read_data(relative), relative);
    EXPECT_TRUE(certs.has_value()) << relative << ": " << certs.error().message;
    return certs ? *certs : std::vector<Certificate>{};
}

struct LoadCase {
    std::string file;
    std::vector<CertRole> roles;
    Product product;
};

class SnpCertsLoad : public ::testing::TestWithParam<LoadCase> {};

TEST_P(SnpCertsLoad, RolesAndProductFromRealVectors) {
    const LoadCase& c = GetParam();
    const auto certs = load(c.file);
    ASSERT_EQ(certs.size(), c.roles.size());
    for (std::size_t i = 0; i < certs.size(); ++i) {
        EXPECT_EQ(certs[i].role(), c.roles[i]) << c.file << " #" << i << " " << certs[i].subject_cn();
        EXPECT_EQ(certs[i].product(), c.product) << c.file << " #" << i;
        // der() round-trips through from_der.
        auto again = Certificate::from_der(certs[i].der(), "again");
        ASSERT_TRUE(again.has_value());
        EXPECT_EQ(again->der(), certs[i].der());
    }
}

INSTANTIATE_TEST_SUITE_P(
    Vectors, SnpCertsLoad,
    ::testing::Values(
        LoadCase{"snp/amd-roots/ask_ark_milan.pem", {CertRole::Ask, CertRole::Ark}, Product::Milan},
        LoadCase{"snp/amd-roots/ask_ark_milan_vlek.pem", {CertRole::Asvk, CertRole::Ark}, Product::Milan},
        LoadCase{"snp/amd-roots/ask_ark_genoa.pem", {CertRole::Ask, CertRole::Ark}, Product::Genoa},
        LoadCase{"snp/amd-roots/ask_ark_genoa_vlek.pem", {CertRole::Asvk, CertRole::Ark}, Product::Genoa},
        LoadCase{"snp/amd-roots/ask_ark_turin_vcek.pem", {CertRole::Ask, CertRole::Ark}, Product::Turin},
        LoadCase{"snp/amd-roots/ask_ark_turin_vlek.pem", {CertRole::Asvk, CertRole::Ark}, Product::Turin},
        LoadCase{"snp/go-sev-guest/vcek.testcer", {CertRole::Vcek}, Product::Milan},
        LoadCase{"snp/trustee/test-vlek.der", {CertRole::Vlek}, Product::Milan},
        LoadCase{"snp/trustee/azure-vcek.pem", {CertRole::Vcek, CertRole::Ask, CertRole::Ark}, Product::Milan},
        LoadCase{"snp/trustee/azure-vcek-genoa.pem", {CertRole::Vcek}, Product::Genoa},
        LoadCase{"snp/virtee-sev/vcek_turin.der", {CertRole::Vcek}, Product::Turin},
        LoadCase{"snp/virtee-sev/cert_chain_turin", {CertRole::Ask, CertRole::Ark}, Product::Turin}));

TEST(SnpCerts, SubjectNamesAreAmds) {
    const auto certs = load("snp/amd-roots/ask_ark_milan_vlek.pem");
    ASSERT_EQ(certs.size(), 2U);
    EXPECT_EQ(certs[0].subject_cn(), "SEV-VLEK-Milan");
    EXPECT_EQ(certs[1].subject_cn(), "ARK-Milan");
    EXPECT_STREQ(cert_role_name(CertRole::Asvk), "ASVK");
    EXPECT_STREQ(cert_role_name(CertRole::Vcek), "VCEK");
    EXPECT_STREQ(cert_role_name(CertRole::Unknown), "unknown");
}

TEST(SnpCerts, MalformedInputNamesTheSource) {
    const Bytes der = read_data("snp/go-sev-guest/vcek.testcer");
    Bytes truncated(der.begin(), der.end() - 1);
    auto r = Certificate::load_all(truncated, "vcek.testcer");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(r.error().message.find("vcek.testcer"), std::string::npos);

    Bytes trailing = der;
    trailing.push_back(0);
    r = Certificate::load_all(trailing, "x");
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("trailing"), std::string::npos);

    EXPECT_FALSE(Certificate::load_all(Bytes{}, "empty").has_value());
    const std::string no_cert = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    r = Certificate::load_all(Bytes(no_cert.begin(), no_cert.end()), "key.pem");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
}

TEST(SnpCerts, CorruptSecondPemBlockIsNamed) {
    Bytes pem = read_data("snp/amd-roots/ask_ark_milan.pem");
    const std::string text(pem.begin(), pem.end());
    const auto second = text.find("-----BEGIN", 10);
    ASSERT_NE(second, std::string::npos);
    pem[second + 80] = '*';  // inside the base64 body of the ARK
    auto r = Certificate::load_all(pem, "ask_ark_milan.pem");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(r.error().message.find("certificate 2"), std::string::npos) << r.error().message;
}

TEST(SnpCerts, CopiesShareTheCertificate) {
    const auto certs = load("snp/amd-roots/ask_ark_milan.pem");
    ASSERT_EQ(certs.size(), 2U);
    Certificate copy = certs[0];
    EXPECT_EQ(copy.der(), certs[0].der());
    copy = certs[1];
    EXPECT_EQ(copy.role(), CertRole::Ark);
    Certificate moved = std::move(copy);
    EXPECT_EQ(moved.subject_cn(), "ARK-Milan");
}

// VCEK spec extensions as the real certificates carry them (see tests/data/README.md).
TEST(SnpCertExtensions, MilanVcekRawHwId) {
    const auto vcek = load("snp/go-sev-guest/vcek.testcer");
    ASSERT_EQ(vcek.size(), 1U);
    auto ext = endorsement_extensions(vcek[0], Product::Milan);
    ASSERT_TRUE(ext.has_value()) << ext.error().message;
    EXPECT_EQ(ext->product_name, "Milan-B0");
    EXPECT_EQ(ext->spl, decode_tcb(0x4405000000000002ULL, Product::Milan));
    ASSERT_TRUE(ext->hw_id.has_value());
    const Bytes report = read_data("snp/go-sev-guest/attestation.bin");
    auto parsed = parse_report(report);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*ext->hw_id, Bytes(parsed->chip_id.begin(), parsed->chip_id.end()));
}

TEST(SnpCertExtensions, OctetStringHwIdIsUnwrapped) {
    const auto vcek = load("snp/trustee/test-vcek-invalid-new.der");
    ASSERT_EQ(vcek.size(), 1U);
    auto ext = endorsement_extensions(vcek[0], Product::Unknown);
    ASSERT_TRUE(ext.has_value()) << ext.error().message;
    ASSERT_TRUE(ext->hw_id.has_value());
    ASSERT_EQ(ext->hw_id->size(), 64U);
    for (std::size_t i = 0; i < 64; ++i) EXPECT_EQ((*ext->hw_id)[i], i);  // 00 01 .. 3f
}

TEST(SnpCertExtensions, VlekHasNoHwIdAndTwoByteSpl) {
    const auto vlek = load("snp/trustee/test-vlek.der");
    ASSERT_EQ(vlek.size(), 1U);
    auto ext = endorsement_extensions(vlek[0], Product::Milan);
    ASSERT_TRUE(ext.has_value()) << ext.error().message;
    EXPECT_EQ(ext->product_name, "Milan");
    EXPECT_FALSE(ext->hw_id.has_value());
    EXPECT_EQ(ext->spl.microcode, 0xd9);  // 02 02 00 d9
    EXPECT_EQ(ext->spl.snp, 0x18);
    EXPECT_EQ(ext->spl.bootloader, 4);
}

TEST(SnpCertExtensions, TurinFmcAndEightByteHwId) {
    const auto vcek = load("snp/virtee-sev/vcek_turin.der");
    ASSERT_EQ(vcek.size(), 1U);
    auto ext = endorsement_extensions(vcek[0], Product::Turin);
    ASSERT_TRUE(ext.has_value()) << ext.error().message;
    EXPECT_EQ(ext->product_name, "Turin");
    EXPECT_EQ(ext->spl.microcode, 9);
    ASSERT_TRUE(ext->hw_id.has_value());
    EXPECT_EQ(to_hex(*ext->hw_id), "1e550a8ee5cf9f4d");
    // Read with the Milan layout, an 8-byte hwID is malformed.
    auto wrong = endorsement_extensions(vcek[0], Product::Milan);
    ASSERT_FALSE(wrong.has_value());
    EXPECT_NE(wrong.error().message.find("hwID"), std::string::npos);
}

TEST(SnpCertExtensions, ArkHasNoSplExtensions) {
    const auto certs = load("snp/amd-roots/ask_ark_milan.pem");
    auto ext = endorsement_extensions(certs.at(1), Product::Milan);
    ASSERT_FALSE(ext.has_value());
    EXPECT_EQ(ext.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(ext.error().message.find("blSPL"), std::string::npos);
}

struct ChainCase {
    Product product;
    bool vlek;
};

class SnpTestChainCerts : public ::testing::TestWithParam<ChainCase> {};

TEST_P(SnpTestChainCerts, NamesExtensionsAndSignatureParameters) {
    const ChainCase& c = GetParam();
    testing::TestChainOptions options;
    options.product = c.product;
    options.vlek = c.vlek;
    options.reported_tcb = encode_tcb(Tcb{3, 4, 5, 6, 0x77}, c.product);
    const testing::TestChain chain(options);
    const std::string p = product_name(c.product);

    auto pems = Certificate::load_all(chain.chain_pem(), "chain");
    ASSERT_TRUE(pems.has_value());
    ASSERT_EQ(pems->size(), 2U);
    EXPECT_EQ((*pems)[0].subject_cn(), (c.vlek ? "SEV-VLEK-" : "SEV-") + p);
    EXPECT_EQ((*pems)[1].subject_cn(), "ARK-" + p);
    for (const auto& cert : *pems) {
        EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_rsassaPss);
        EXPECT_EQ(cert.product(), c.product);
    }
    auto leaf = Certificate::from_der(chain.vcek_der(), "leaf");
    ASSERT_TRUE(leaf.has_value());
    EXPECT_EQ(leaf->role(), c.vlek ? CertRole::Vlek : CertRole::Vcek);
    EXPECT_EQ(leaf->product(), c.product);
    EXPECT_EQ(X509_get_signature_nid(leaf->get()), NID_rsassaPss);
    auto ext = endorsement_extensions(*leaf, c.product);
    ASSERT_TRUE(ext.has_value()) << ext.error().message;
    EXPECT_EQ(ext->spl, decode_tcb(options.reported_tcb, c.product));
    EXPECT_EQ(ext->hw_id.has_value(), !c.vlek);
    if (ext->hw_id) {
        EXPECT_EQ(ext->hw_id->size(), c.product == Product::Turin ? 8U : 64U);
    }
}

INSTANTIATE_TEST_SUITE_P(Products, SnpTestChainCerts,
                         ::testing::Values(ChainCase{Product::Milan, false}, ChainCase{Product::Milan, true},
                                           ChainCase{Product::Genoa, false}, ChainCase{Product::Turin, false},
                                           ChainCase{Product::Turin, true}));

TEST(SnpTrustStore, AddsArksAndIntermediates) {
    TrustStore trust;
    EXPECT_TRUE(trust.empty());
    ASSERT_TRUE(trust.add(read_data("snp/amd-roots/ask_ark_milan.pem"), "milan").has_value());
    ASSERT_TRUE(trust.add(read_data("snp/amd-roots/ask_ark_milan_vlek.pem"), "milan vlek").has_value());
    ASSERT_TRUE(trust.add(read_data("snp/amd-roots/ask_ark_milan.pem"), "again").has_value());
    EXPECT_FALSE(trust.empty());
    EXPECT_EQ(trust.arks().size(), 1U);  // the same ARK-Milan three times
    EXPECT_EQ(trust.intermediates().size(), 2U);
}

TEST(SnpTrustStore, RefusesLeavesAndForgedArks) {
    TrustStore trust;
    auto r = trust.add(read_data("snp/go-sev-guest/vcek.testcer"), "vcek");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(r.error().message.find("SEV-VCEK"), std::string::npos);

    // ARK-Milan with a broken self-signature (last byte of its RSASSA-PSS signature).
    const auto certs = load("snp/amd-roots/ask_ark_milan.pem");
    Bytes ark = certs.at(1).der();
    ark.back() ^= 0x01;
    r = trust.add(ark, "ark.der");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::Tampered);
    EXPECT_NE(r.error().message.find("self-signed"), std::string::npos);
    EXPECT_TRUE(trust.empty());
}

// verify_chain: the path to a trusted ARK, without a report.
const std::string kMilan = "snp/amd-roots/ask_ark_milan.pem";
const std::string kMilanVlek = "snp/amd-roots/ask_ark_milan_vlek.pem";
const std::string kGenoa = "snp/amd-roots/ask_ark_genoa.pem";
const std::string kGoVcek = "snp/go-sev-guest/vcek.testcer";



struct ChainOnlyCase {
    std::string name;
    std::vector<std::string> certs;
    std::vector<std::string> trust;
    std::time_t at;
    std::string check;
    std::size_t path_size;
    Product product;
};

void PrintTo(const ChainOnlyCase& c, std::ostream* os) { *os << c.name; }

class SnpVerifyChain : public ::testing::TestWithParam<ChainOnlyCase> {};

TEST_P(SnpVerifyChain, ChainOnly) {
    const ChainOnlyCase& c = GetParam();
    auto certs = load_certs(c.certs);
    const TrustStore trust = load_trust(c.trust);
    for (int order = 0; order < 2; ++order) {  // the order of the supplied certificates does not matter
        const auto r = verify_chain(certs, trust, c.at);
        EXPECT_EQ(r ? "" : r.error().check, c.check) << (r ? "" : r.error().detail);
        if (r) {
            EXPECT_EQ(r->path.size(), c.path_size);
            EXPECT_EQ(r->product, c.product);
        }
        std::reverse(certs.begin(), certs.end());
    }
}

const std::string kTurin = "snp/amd-roots/ask_ark_turin_vcek.pem";
const std::string kTurinVcek = "snp/virtee-sev/vcek_turin.der";

INSTANTIATE_TEST_SUITE_P(
    Vectors, SnpVerifyChain,
    ::testing::Values(
        ChainOnlyCase{"turin", {kTurinVcek, "snp/virtee-sev/cert_chain_turin"}, {kTurin}, k2025_06_01, "", 3,
                      Product::Turin},
        ChainOnlyCase{"turin_ask_from_trust", {kTurinVcek}, {kTurin}, k2025_06_01, "", 3, Product::Turin},
        ChainOnlyCase{"turin_milan_roots", {kTurinVcek, "snp/virtee-sev/cert_chain_turin"}, {kMilan}, k2025_06_01,
                      "trust", 0, Product::Unknown},
        ChainOnlyCase{"turin_vcek_milan_roots", {kTurinVcek}, {kMilan}, k2025_06_01, "chain", 0, Product::Unknown},
        ChainOnlyCase{"ask_only", {kMilan}, {kMilan}, k2025_06_01, "", 2, Product::Milan},
        ChainOnlyCase{"asvk_only", {kMilanVlek}, {kMilan}, k2025_06_01, "", 2, Product::Milan},
        ChainOnlyCase{"genoa_ask_milan_trust", {kGenoa}, {kMilan}, k2025_06_01, "trust", 0, Product::Unknown},
        ChainOnlyCase{"extra_certs_ignored", {kGoVcek, kGenoa, kMilan}, {kMilan}, k2025_06_01, "", 3,
                      Product::Milan},
        ChainOnlyCase{"vlek_expired", {"snp/trustee/test-vlek.der"}, {kMilanVlek}, k2026_01_01, "expiry", 0,
                      Product::Unknown},
        ChainOnlyCase{"empty_trust", {kTurinVcek}, {}, k2025_06_01, "trust", 0, Product::Unknown}),
    [](const ::testing::TestParamInfo<ChainOnlyCase>& param_info) { return param_info.param.name; });

// The built-in anchors are deferred by the product in their file name; that
// skips no anchor a chain needs only if every certificate in the file names
// that product (an issuer's subject CN is its child's issuer CN).
TEST(SnpTrustStore, BuiltinAnchorsNameTheirProductInEveryCertificate) {
    ASSERT_FALSE(builtin_anchors().empty());
    const auto lower = [](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
        return s;
    };
    for (const auto& anchor : builtin_anchors()) {
        SCOPED_TRACE(std::string(anchor.name));
        ASSERT_FALSE(anchor.product.empty());
        const Bytes pem(anchor.pem.begin(), anchor.pem.end());
        auto certs = Certificate::load_all(pem, std::string(anchor.name));
        ASSERT_TRUE(certs.has_value()) << certs.error().message;
        ASSERT_FALSE(certs->empty());
        for (const Certificate& cert : *certs) {
            EXPECT_NE(lower(cert.subject_cn()).find(anchor.product), std::string::npos) << cert.subject_cn();
            EXPECT_NE(lower(cert.issuer_cn()).find(anchor.product), std::string::npos) << cert.issuer_cn();
        }
    }
}

TEST(SnpTrustStore, DeferredAnchorsLoadOnlyForTheChainsProduct) {
    const Bytes milan = read_data(kMilan);
    const Bytes genoa = read_data(kGenoa);
    const Bytes turin = read_data(kTurin);
    TrustStore trust;
    trust.add_deferred(milan, "milan", "Milan");
    trust.add_deferred(genoa, "genoa", "genoa");
    trust.add_deferred(turin, "turin", "turin");
    EXPECT_FALSE(trust.empty());
    EXPECT_TRUE(trust.arks().empty());  // nothing parsed yet

    const auto r = verify_chain(load_certs({kTurinVcek}), trust, k2025_06_01);
    ASSERT_TRUE(r.has_value()) << r.error().detail;
    EXPECT_EQ(r->product, Product::Turin);
    ASSERT_EQ(trust.arks().size(), 1U);  // only Turin's file was read
    EXPECT_EQ(trust.arks()[0].subject_cn(), "ARK-Turin");

    // A Milan chain then loads Milan's, and a deferred anchor that does not
    // parse refuses naming it.
    EXPECT_TRUE(verify_chain(load_certs({kGoVcek}), trust, k2025_06_01).has_value());
    EXPECT_EQ(trust.arks().size(), 2U);
    TrustStore broken;
    const Bytes junk = {'n', 'o', 't', ' ', 'a', ' ', 'P', 'E', 'M'};
    broken.add_deferred(junk, "built-in broken.pem", "turin");
    const auto refused = verify_chain(load_certs({kTurinVcek}), broken, k2025_06_01);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().check, "trust");
    EXPECT_NE(refused.error().detail.find("broken.pem"), std::string::npos) << refused.error().detail;
}

// A chain to an anchor added eagerly (an operator's anchor file) is accepted
// without parsing the deferred built-in roots; one that needs them loads them.
TEST(SnpTrustStore, DeferredAnchorsAreParsedOnlyWhenTheLoadedOnesGiveNoPath) {
    const Bytes milan = read_data(kMilan);
    const Bytes turin = read_data(kTurin);
    TrustStore trust;
    ASSERT_TRUE(trust.add(milan, "operator's milan.pem").has_value());
    trust.add_deferred(milan, "built-in milan", "milan");
    trust.add_deferred(turin, "built-in turin", "turin");
    ASSERT_EQ(trust.arks().size(), 1U);

    EXPECT_TRUE(verify_chain(load_certs({kGoVcek}), trust, k2025_06_01).has_value());
    EXPECT_EQ(trust.arks().size(), 1U);  // the Milan chain found the operator's ARK: nothing else parsed
    EXPECT_TRUE(trust.has_deferred());

    const auto r = verify_chain(load_certs({kTurinVcek}), trust, k2025_06_01);
    ASSERT_TRUE(r.has_value()) << r.error().detail;
    EXPECT_EQ(r->product, Product::Turin);
    ASSERT_EQ(trust.arks().size(), 2U);  // Turin's file, read because no loaded ARK issued it
    EXPECT_EQ(trust.arks()[1].subject_cn(), "ARK-Turin");
}

TEST(SnpVerifyChainOnly, OnlyAnArkIsNoChain) {
    const auto certs = load_certs({kMilan});
    const auto r = verify_chain(std::span<const Certificate>(certs).subspan(1), load_trust({kMilan}), k2025_06_01);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().check, "chain");
}

}  // namespace
}  // namespace cvmunlock::snp
