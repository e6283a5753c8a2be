// The Azure vTPM binding against a real (software) TPM: a private swtpm
// provisioned like an Azure CVM's vTPM (AK at 0x81000003, HCL report in NV
// 0x01400001), read back through AzureHclSource and checked with
// check_azure_binding, positive and with each link of the binding broken.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "azure_provision.hpp"
#include "cvmunlock/hcl_binding.hpp"
#include "cvmunlock/hcl_report.hpp"
#include "process.hpp"
#include "snp_test_chain.hpp"
#include "swtpm.hpp"
#include "tpm/attestation_key.hpp"
#include "tpm/azure_hcl_source.hpp"
#include "tpm/nv_index.hpp"
#include "tpm/srk.hpp"

namespace cvmunlock {
namespace {

using testing::AzureProvisionOptions;

const Bytes kNonce = *from_hex("a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0");

Bytes read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const testing::TestChain& chain() {
    static const testing::TestChain c;
    return c;
}

class HclBindingSwtpm : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(swtpm.ok()) << swtpm.error();
        ASSERT_NO_FATAL_FAILURE(connect());
    }

    void connect() {
        auto ctx = tpm::TpmContext::open(swtpm.tcti());
        ASSERT_TRUE(ctx.has_value()) << ctx.error().message;
        tpm = std::move(*ctx);
    }
    // swtpm serves one client at a time: let go of it while a tool runs.
    testing::ProcessResult run_tool(std::vector<std::string> argv) {
        srk = tpm::Srk{};
        tpm.reset();
        auto r = testing::run_process(argv);
        connect();
        return r;
    }

    void provision(const AzureProvisionOptions& options = {}) {
        auto p = testing::provision_azure(*tpm, chain(), options);
        ASSERT_TRUE(p.has_value()) << p.error().message;
        provisioned = std::move(*p);
    }

    // What the engine does: fetch the evidence, parse it, load the SRK.
    void fetch_and_parse() {
        tpm::AzureHclSource source(*tpm);
        EXPECT_EQ(source.kind(), snp::EvidenceKind::AzureHcl);
        auto ev = source.fetch(snp::ReportData{});
        ASSERT_TRUE(ev.has_value()) << ev.error().message;
        evidence = std::move(*ev);
        auto parsed = hcl::parse_hcl_report(evidence.hcl_report);
        ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
        report = std::move(*parsed);
        auto s = tpm::load_srk(*tpm, false);
        ASSERT_TRUE(s.has_value()) << s.error().message;
        srk = std::move(*s);
    }

    void expect_binding_refused(const char* step, ErrorCode code, const char* needle) {
        auto r = tpm::check_azure_binding(*tpm, report, srk);
        ASSERT_FALSE(r.has_value()) << "binding held, expected " << step << " to fail";
        EXPECT_EQ(r.error().code, code) << r.error().message;
        EXPECT_NE(r.error().message.find(std::string("Azure binding ") + step), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
    }

    testing::Swtpm swtpm;
    std::unique_ptr<tpm::TpmContext> tpm;
    testing::AzureProvisioned provisioned;
    snp::Evidence evidence;
    hcl::HclReport report;
    tpm::Srk srk;
};

TEST_F(HclBindingSwtpm, ProvisionedVtpmBindsToItsReport) {
    ASSERT_NO_FATAL_FAILURE(provision());
    ASSERT_NO_FATAL_FAILURE(fetch_and_parse());
    EXPECT_EQ(evidence.origin, "NV 0x01400001");
    EXPECT_EQ(evidence.hcl_report, provisioned.hcl_report);
    EXPECT_EQ(evidence.report, Bytes(provisioned.hcl_report.begin() + hcl::kHwReportOffset,
                                     provisioned.hcl_report.begin() + hcl::kRequestDataOffset));
    EXPECT_EQ(report.runtime_json, provisioned.runtime_json);
    EXPECT_EQ(report.snp.policy & snp::policy_bit::kDebug, 0u);

    auto r = tpm::check_azure_binding(*tpm, report, srk);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const auto& cc = tpm->command_codes();
    EXPECT_NE(std::find(cc.begin(), cc.end(), TPM2_CC_Certify), cc.end());
    // And again with the caller's nonce.
    r = tpm::check_azure_binding(*tpm, report, srk, kNonce);
    EXPECT_TRUE(r.has_value()) << r.error().message;
}

TEST_F(HclBindingSwtpm, DebugOptionSetsThePolicyBit) {
    ASSERT_NO_FATAL_FAILURE(provision({.debug = true}));
    ASSERT_NO_FATAL_FAILURE(fetch_and_parse());
    EXPECT_NE(report.snp.policy & snp::policy_bit::kDebug, 0u);
    auto r = tpm::check_azure_binding(*tpm, report, srk);  // the binding does not judge policy
    EXPECT_TRUE(r.has_value()) << r.error().message;
}

TEST_F(HclBindingSwtpm, FlippedRuntimeClaimsByteFailsStepA) {
    ASSERT_NO_FATAL_FAILURE(provision());
    // Rewrite NV with one byte of the claims changed (inside vmUniqueId), as a
    // host that edited the claims would.
    Bytes nv = provisioned.hcl_report;
    const std::size_t at = hcl::kRuntimeDataOffset + provisioned.runtime_json.find("CAFE");
    ASSERT_GT(at, hcl::kRuntimeDataOffset);
    nv[at] = 'D';
    ASSERT_TRUE(testing::define_and_write_nv(*tpm, hcl::kNvIndex, nv).has_value());
    ASSERT_NO_FATAL_FAILURE(fetch_and_parse());
    expect_binding_refused("(a)", ErrorCode::Tampered, "SHA-256");
}

TEST_F(HclBindingSwtpm, ClaimsNamingAnotherKeyFailStepB) {
    ASSERT_NO_FATAL_FAILURE(provision({.foreign_ak = true}));
    ASSERT_NE(provisioned.claimed_ak.modulus, provisioned.tpm_ak.modulus);
    ASSERT_NO_FATAL_FAILURE(fetch_and_parse());
    expect_binding_refused("(b)", ErrorCode::PolicyRefused, "modulus");
}

TEST_F(HclBindingSwtpm, NoKeyAtTheAkHandleFailsStepB) {
    ASSERT_NO_FATAL_FAILURE(provision());
    ASSERT_TRUE(testing::evict_persistent(*tpm, hcl::kAkPersistentHandle).has_value());
    ASSERT_NO_FATAL_FAILURE(fetch_and_parse());
    expect_binding_refused("(b)", ErrorCode::PolicyRefused, "no key is persistent at 0x81000003");
}

TEST_F(HclBindingSwtpm, AkThatWillNotCertifyFailsStepC) {
    ASSERT_NO_FATAL_FAILURE(provision({.ak_auth = true}));
    ASSERT_NO_FATAL_FAILURE(fetch_and_parse());
    expect_binding_refused("(c)", ErrorCode::PolicyRefused, "TPM2_Certify");
}

TEST_F(HclBindingSwtpm, CertifyAnswerIsCheckedAgainstNonceAndObject) {
    ASSERT_NO_FATAL_FAILURE(provision());
    ASSERT_NO_FATAL_FAILURE(fetch_and_parse());
    auto ak = tpm::open_persistent_key(*tpm, hcl::kAkPersistentHandle);
    ASSERT_TRUE(ak.has_value()) << ak.error().message;
    auto cert = tpm::certify_with_ak(*tpm, *ak, srk.tpm_handle, kNonce);
    ASSERT_TRUE(cert.has_value()) << cert.error().message;
    auto ok = hcl::verify_certify(cert->attest, cert->signature, provisioned.tpm_ak, kNonce, srk.name);
    EXPECT_TRUE(ok.has_value()) << ok.error().message;

    Bytes other_nonce = kNonce;
    other_nonce[0] ^= 1;
    auto r = hcl::verify_certify(cert->attest, cert->signature, provisioned.tpm_ak, other_nonce, srk.name);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("extraData"), std::string::npos) << r.error().message;

    Bytes other_name = srk.name;
    other_name.back() ^= 1;
    r = hcl::verify_certify(cert->attest, cert->signature, provisioned.tpm_ak, kNonce, other_name);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("certified name"), std::string::npos) << r.error().message;

    Bytes flipped = cert->attest;
    flipped[flipped.size() / 2] ^= 1;
    r = hcl::verify_certify(flipped, cert->signature, provisioned.tpm_ak, kNonce, srk.name);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::Tampered) << r.error().message;

    auto too_long = tpm::certify_with_ak(*tpm, *ak, srk.tpm_handle, Bytes(65, 1));
    ASSERT_FALSE(too_long.has_value());
    EXPECT_EQ(too_long.error().code, ErrorCode::InvalidInput);
}

TEST_F(HclBindingSwtpm, ReadPublicOfTheAkMatchesTheClaims) {
    ASSERT_NO_FATAL_FAILURE(provision());
    auto pub = tpm::read_persistent_public(*tpm, hcl::kAkPersistentHandle);
    ASSERT_TRUE(pub.has_value()) << pub.error().message;
    EXPECT_TRUE(hcl::ak_matches(*pub, provisioned.tpm_ak).has_value());
    auto missing = tpm::read_persistent_public(*tpm, 0x81000042);
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
}

TEST_F(HclBindingSwtpm, AbsentNvIndexIsNotFound) {
    ASSERT_NO_FATAL_FAILURE(provision({.no_nv = true}));
    tpm::AzureHclSource source(*tpm);
    auto ev = source.fetch(snp::ReportData{});
    ASSERT_FALSE(ev.has_value());
    EXPECT_EQ(ev.error().code, ErrorCode::NotFound) << ev.error().message;
    EXPECT_NE(ev.error().message.find("0x01400001"), std::string::npos) << ev.error().message;
}

TEST_F(HclBindingSwtpm, NvContentsThatAreNoHclReportAreInvalidInput) {
    ASSERT_TRUE(testing::define_and_write_nv(*tpm, hcl::kNvIndex, Bytes(1500, 0x5a)).has_value());
    tpm::AzureHclSource source(*tpm);
    auto ev = source.fetch(snp::ReportData{});
    ASSERT_FALSE(ev.has_value());
    EXPECT_EQ(ev.error().code, ErrorCode::InvalidInput) << ev.error().message;
    EXPECT_NE(ev.error().message.find("NV 0x01400001"), std::string::npos) << ev.error().message;
}

TEST_F(HclBindingSwtpm, NvIndexLargerThanOneBufferReadsBackByteIdentical) {
    auto chunk = tpm::nv_buffer_max(*tpm);
    ASSERT_TRUE(chunk.has_value()) << chunk.error().message;
    std::mt19937 rng(5);
    for (std::size_t size : {std::size_t{1}, std::size_t{*chunk}, std::size_t{*chunk + 1}, std::size_t{2048}}) {
        SCOPED_TRACE(size);
        Bytes data(size);
        std::generate(data.begin(), data.end(), [&] { return static_cast<std::uint8_t>(rng()); });
        ASSERT_TRUE(testing::define_and_write_nv(*tpm, 0x01500020, data).has_value());
        auto back = tpm::nv_read_all(*tpm, 0x01500020);
        ASSERT_TRUE(back.has_value()) << back.error().message;
        EXPECT_EQ(*back, data);
    }
    EXPECT_LT(*chunk, 2048u) << "swtpm's NV buffer is expected to be smaller than the HCL report";
}

TEST_F(HclBindingSwtpm, OwnerReadOnlyIndexIsReadWithOwnerAuth) {
    TPM2B_NV_PUBLIC info{};
    info.nvPublic.nvIndex = 0x01500021;
    info.nvPublic.nameAlg = TPM2_ALG_SHA256;
    info.nvPublic.attributes = TPMA_NV_OWNERREAD | TPMA_NV_OWNERWRITE | TPMA_NV_NO_DA;
    info.nvPublic.dataSize = 1100;
    TPM2B_AUTH auth{};
    ESYS_TR nv = ESYS_TR_NONE;
    ASSERT_EQ(Esys_NV_DefineSpace(tpm->esys(), ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &auth,
                                  &info, &nv),
              TSS2_RC_SUCCESS);
    auto unwritten = tpm::nv_read_all(*tpm, 0x01500021);
    ASSERT_FALSE(unwritten.has_value());
    EXPECT_EQ(unwritten.error().code, ErrorCode::NotFound) << unwritten.error().message;
    Bytes data(1100);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7);
    for (std::size_t off = 0; off < data.size(); off += 512) {
        TPM2B_MAX_NV_BUFFER part{};
        part.size = static_cast<UINT16>(std::min<std::size_t>(512, data.size() - off));
        std::memcpy(part.buffer, data.data() + off, part.size);
        ASSERT_EQ(Esys_NV_Write(tpm->esys(), ESYS_TR_RH_OWNER, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &part,
                                static_cast<UINT16>(off)),
                  TSS2_RC_SUCCESS);
    }
    auto pub = tpm::nv_read_public(*tpm, 0x01500021);
    ASSERT_TRUE(pub.has_value()) << pub.error().message;
    EXPECT_EQ(pub->attributes & TPMA_NV_AUTHREAD, 0u);
    auto back = tpm::nv_read_all(*tpm, 0x01500021);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(*back, data);
}

TEST_F(HclBindingSwtpm, ProvisioningToolLeavesAVtpmThatBinds) {
    const auto dir = std::filesystem::path(swtpm.state_dir()) / "hcl-out";
    auto run = run_tool({CVMUNLOCK_PROVISION_HCL, "--tpm", swtpm.tcti(), "--out", dir.string()});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    for (const char* f : {"ark.pem", "ask_ark.pem", "vcek.der", "hcl-report.bin"}) {
        EXPECT_GT(std::filesystem::file_size(dir / f), 0u) << f;
    }
    ASSERT_NO_FATAL_FAILURE(fetch_and_parse());
    EXPECT_EQ(evidence.hcl_report, read_file(dir / "hcl-report.bin"));
    auto r = tpm::check_azure_binding(*tpm, report, srk);
    EXPECT_TRUE(r.has_value()) << r.error().message;

    // --foreign-ak re-provisions: the same TPM now fails at (b).
    run = run_tool({CVMUNLOCK_PROVISION_HCL, "--tpm", swtpm.tcti(), "--out", dir.string(), "--foreign-ak"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    ASSERT_NO_FATAL_FAILURE(fetch_and_parse());
    expect_binding_refused("(b)", ErrorCode::PolicyRefused, "modulus");

    // --no-nv removes the index.
    run = run_tool({CVMUNLOCK_PROVISION_HCL, "--tpm", swtpm.tcti(), "--out", dir.string(), "--no-nv"});
    ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
    auto gone = tpm::nv_read_all(*tpm, hcl::kNvIndex);
    ASSERT_FALSE(gone.has_value());
    EXPECT_EQ(gone.error().code, ErrorCode::NotFound);
}

}  // namespace
}  // namespace cvmunlock
