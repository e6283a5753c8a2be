// The report sources against the fake guest device and the fake configfs-tsm.
#include <gtest/gtest.h>
#include <linux/sev-guest.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <memory>

#include "cvmunlock/snp_report.hpp"
#include "fake_guest.hpp"
#include "snp/cert_table.hpp"
#include "snp/configfs_tsm.hpp"
#include "snp/sev_guest.hpp"

namespace cvmunlock::snp {
namespace {

using testing::FakeSevGuest;
using testing::FakeTsmFs;
using testing::TestChain;

const TestChain& chain() {
    static const TestChain c;  // key generation is slow: one chain for the whole binary
    return c;
}

ReportData nonce(std::uint8_t seed) {
    ReportData rd{};
    for (std::size_t i = 0; i < rd.size(); ++i) rd[i] = static_cast<std::uint8_t>(seed + i * 7);
    return rd;
}

struct GuestFixture {
    FakeSevGuest* fake = nullptr;
    std::unique_ptr<SevGuestSource> source;
    explicit GuestFixture(SevGuestOptions options = {}) {
        auto dev = std::make_unique<FakeSevGuest>(chain());
        fake = dev.get();
        source = std::make_unique<SevGuestSource>(std::move(dev), options);
    }
};

// ---- /dev/sev-guest ----

TEST(SevGuestSource, ExtendedReportCarriesTheNonceAndTheCertificateTable) {
    GuestFixture f;
    const ReportData rd = nonce(1);
    auto ev = f.source->fetch(rd);
    ASSERT_TRUE(ev.has_value()) << ev.error().message;
    EXPECT_EQ(ev->kind, EvidenceKind::SevGuest);
    EXPECT_EQ(ev->origin, "/dev/sev-guest");
    auto report = parse_report(ev->report);
    ASSERT_TRUE(report.has_value()) << report.error().message;
    EXPECT_EQ(report->report_data, rd);
    EXPECT_EQ(report->vmpl, 0u);
    ASSERT_EQ(ev->certs.size(), 3u);
    EXPECT_EQ(ev->certs[0], chain().vcek_der());
    auto roles = Certificate::from_der(ev->certs[2], "ark");
    ASSERT_TRUE(roles.has_value());
    EXPECT_EQ(roles->role(), CertRole::Ark);
    EXPECT_EQ(f.fake->requests, 1);
    EXPECT_EQ(f.fake->request_codes.at(0), static_cast<unsigned long>(SNP_GET_EXT_REPORT));
}

TEST(SevGuestSource, PlainReportHasNoCertificates) {
    GuestFixture f(SevGuestOptions{.vmpl = 0, .extended = false});
    auto ev = f.source->fetch(nonce(2));
    ASSERT_TRUE(ev.has_value()) << ev.error().message;
    EXPECT_TRUE(ev->certs.empty());
    EXPECT_EQ(f.fake->requests, 1);
    EXPECT_EQ(f.fake->request_codes.at(0), static_cast<unsigned long>(SNP_GET_REPORT));
}

TEST(SevGuestSource, RequestedVmplIsInTheReport) {
    GuestFixture f(SevGuestOptions{.vmpl = 2});
    auto ev = f.source->fetch(nonce(3));
    ASSERT_TRUE(ev.has_value()) << ev.error().message;
    EXPECT_EQ(parse_report(ev->report)->vmpl, 2u);
}

TEST(SevGuestSource, NonceMismatchIsRefused) {
    GuestFixture f;
    f.fake->stale_report_data = true;
    auto ev = f.source->fetch(nonce(4));
    ASSERT_FALSE(ev.has_value());
    EXPECT_EQ(ev.error().code, ErrorCode::Tampered);
    EXPECT_NE(ev.error().message.find("REPORT_DATA"), std::string::npos) << ev.error().message;
    EXPECT_EQ(f.fake->requests, 1);
}

struct FailureCase {
    const char* name;
    int err;
    std::uint64_t exitinfo2;
    std::uint32_t firmware_status;
    std::uint32_t current_vmpl;
    ErrorCode code;
    std::int64_t native;
    const char* says;
};

// Named in test output; gtest's byte dump would read the struct's padding.
void PrintTo(const FailureCase& c, std::ostream* os) { *os << c.name; }

class SevGuestFailure : public ::testing::TestWithParam<FailureCase> {};

TEST_P(SevGuestFailure, IsMappedOnceAndNeverRetried) {
    const FailureCase& c = GetParam();
    GuestFixture f;
    f.fake->fail_errno = c.err;
    f.fake->fail_exitinfo2 = c.exitinfo2;
    f.fake->firmware_status = c.firmware_status;
    f.fake->current_vmpl = c.current_vmpl;
    auto ev = f.source->fetch(nonce(5));
    ASSERT_FALSE(ev.has_value());
    EXPECT_EQ(ev.error().code, c.code) << ev.error().message;
    EXPECT_EQ(ev.error().native, c.native) << ev.error().message;
    EXPECT_NE(ev.error().message.find(c.says), std::string::npos) << ev.error().message;
    EXPECT_EQ(f.fake->requests, 1) << "a failed guest request must not be sent again";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SevGuestFailure,
    ::testing::Values(
        FailureCase{"FirmwareErrorViaExitinfo2", EIO, 0x16, 0, 0, ErrorCode::Internal, 0x16, "fw_error 0x16"},
        FailureCase{"HostError", EIO, 0x5ULL << 32, 0, 0, ErrorCode::Internal, static_cast<std::int64_t>(0x5ULL << 32),
                    "vmm_error 5"},
        FailureCase{"ThrottledEagain", EAGAIN, ~0ULL, 0, 0, ErrorCode::Unavailable, EAGAIN, "throttling"},
        FailureCase{"ThrottledTimeout", ETIMEDOUT, ~0ULL, 0, 0, ErrorCode::Unavailable, ETIMEDOUT, "throttling"},
        FailureCase{"VmmBusy", EIO, 2ULL << 32, 0, 0, ErrorCode::Unavailable, static_cast<std::int64_t>(2ULL << 32),
                    "throttling"},
        FailureCase{"VmpckDisabled", ENOTTY, ~0ULL, 0, 0, ErrorCode::Unavailable, ENOTTY, "VMPCK"},
        FailureCase{"StatusInResponse", 0, 0, 0x27, 0, ErrorCode::Internal, 0x27, "STATUS 0x27"},
        FailureCase{"VmplBelowCurrent", 0, 0, 0, 1, ErrorCode::Internal, 0x16, "INVALID_PARAM"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(SevGuestSource, TooSmallCertBufferGrowsOnce) {
    GuestFixture f(SevGuestOptions{.vmpl = 0, .extended = true, .certs_len = kCertsPage});
    f.fake->extra_cert_bytes = 3 * kCertsPage;  // the table needs more than one page
    auto ev = f.source->fetch(nonce(6));
    ASSERT_TRUE(ev.has_value()) << ev.error().message;
    ASSERT_EQ(f.fake->requests, 2);
    EXPECT_EQ(f.fake->certs_lens.at(0), kCertsPage);
    EXPECT_GT(f.fake->certs_lens.at(1), 3 * kCertsPage);
    EXPECT_EQ(f.fake->certs_lens.at(1) % kCertsPage, 0u);
    EXPECT_EQ(ev->certs.size(), 3u) << "the unknown (CRL) entry is not a certificate for the chain";
}

TEST(SevGuestSource, TooSmallTwiceIsAnErrorAfterExactlyTwoRequests) {
    GuestFixture f(SevGuestOptions{.vmpl = 0, .extended = true, .certs_len = kCertsPage});
    f.fake->always_too_small = true;
    auto ev = f.source->fetch(nonce(7));
    ASSERT_FALSE(ev.has_value());
    EXPECT_EQ(f.fake->requests, 2);
    EXPECT_NE(ev.error().message.find("after growing once"), std::string::npos) << ev.error().message;
}

TEST(SevGuestSource, MalformedCertificateTableIsInvalidInput) {
    GuestFixture f;
    f.fake->corrupt_cert_table = true;
    auto ev = f.source->fetch(nonce(8));
    ASSERT_FALSE(ev.has_value());
    EXPECT_EQ(ev.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(ev.error().message.find("past the end"), std::string::npos) << ev.error().message;
}

TEST(SevGuestSource, WrongReportSizeIsInvalidInput) {
    GuestFixture f;
    f.fake->report_size = 0x400;
    auto ev = f.source->fetch(nonce(9));
    ASSERT_FALSE(ev.has_value());
    EXPECT_EQ(ev.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(ev.error().message.find("REPORT_SIZE"), std::string::npos) << ev.error().message;
}

TEST(SevGuestSource, HostWithoutCertificatesGivesAnEmptyList) {
    GuestFixture f;
    f.fake->host_has_certs = false;
    auto ev = f.source->fetch(nonce(10));
    ASSERT_TRUE(ev.has_value()) << ev.error().message;
    EXPECT_TRUE(ev->certs.empty());
}

TEST(SevGuestSource, MissingDeviceIsUnavailable) {
    auto dev = open_guest_device("/nonexistent/sev-guest");
    ASSERT_FALSE(dev.has_value());
    EXPECT_EQ(dev.error().code, ErrorCode::Unavailable);
    EXPECT_EQ(dev.error().native, ENOENT);
}

// ---- configfs-tsm ----

constexpr const char* kDir = "/sys/kernel/config/tsm/report";

struct TsmFixture {
    FakeTsmFs* fake = nullptr;
    std::unique_ptr<TsmSource> source;
    explicit TsmFixture(TsmOptions options = {}) {
        auto fs = std::make_unique<FakeTsmFs>(chain(), kDir);
        fake = fs.get();
        source = std::make_unique<TsmSource>(std::move(fs), options);
    }
};

TEST(TsmSource, ReportCarriesTheNonceAndTheEntryIsRemoved) {
    TsmFixture f;
    const ReportData rd = nonce(20);
    auto ev = f.source->fetch(rd);
    ASSERT_TRUE(ev.has_value()) << ev.error().message;
    EXPECT_EQ(ev->kind, EvidenceKind::Tsm);
    EXPECT_EQ(parse_report(ev->report)->report_data, rd);
    ASSERT_EQ(ev->certs.size(), 3u);
    EXPECT_EQ(ev->certs[0], chain().vcek_der());
    EXPECT_EQ(f.fake->firmware_requests, 1);
    EXPECT_EQ(f.fake->mkdirs, 1);
    EXPECT_EQ(f.fake->rmdirs, 1);
    EXPECT_TRUE(f.fake->entries.empty());
}

TEST(TsmSource, PrivlevelIsWrittenAndChecked) {
    TsmFixture f(TsmOptions{.report_dir = kDir, .privlevel = 2});
    auto ev = f.source->fetch(nonce(21));
    ASSERT_TRUE(ev.has_value()) << ev.error().message;
    EXPECT_EQ(parse_report(ev->report)->vmpl, 2u);
}

TEST(TsmSource, OtherProviderIsRefusedBeforeAnyRequest) {
    TsmFixture f;
    f.fake->provider = "tdx_guest";
    auto ev = f.source->fetch(nonce(22));
    ASSERT_FALSE(ev.has_value());
    EXPECT_EQ(ev.error().code, ErrorCode::Unavailable);
    EXPECT_NE(ev.error().message.find("tdx_guest"), std::string::npos) << ev.error().message;
    EXPECT_EQ(f.fake->firmware_requests, 0);
    EXPECT_TRUE(f.fake->entries.empty());
}

TEST(TsmSource, GenerationRaceIsRefusedEvenWithTheSameData) {
    for (bool same : {true, false}) {
        TsmFixture f;
        f.fake->racing_writer = true;
        f.fake->racing_same_data = same;
        auto ev = f.source->fetch(nonce(23));
        ASSERT_FALSE(ev.has_value()) << "same data: " << same;
        EXPECT_EQ(ev.error().code, ErrorCode::Unavailable);
        EXPECT_NE(ev.error().message.find("generation went from 0 to 2"), std::string::npos) << ev.error().message;
        EXPECT_EQ(f.fake->firmware_requests, 1) << "not repeated";
        EXPECT_TRUE(f.fake->entries.empty());
    }
}

TEST(TsmSource, NonceMismatchIsRefused) {
    TsmFixture f;
    f.fake->stale_report_data = true;
    auto ev = f.source->fetch(nonce(24));
    ASSERT_FALSE(ev.has_value());
    EXPECT_EQ(ev.error().code, ErrorCode::Tampered);
    EXPECT_TRUE(f.fake->entries.empty());
}

TEST(TsmSource, ThrottledOutblobIsUnavailableAndNotRepeated) {
    TsmFixture f;
    f.fake->outblob_errno = EBUSY;
    auto ev = f.source->fetch(nonce(25));
    ASSERT_FALSE(ev.has_value());
    EXPECT_EQ(ev.error().code, ErrorCode::Unavailable);
    EXPECT_EQ(ev.error().native, EBUSY);
    EXPECT_TRUE(f.fake->entries.empty());
}

TEST(TsmSource, MissingReportDirIsUnavailable) {
    auto fs = std::make_unique<FakeTsmFs>(chain(), "/elsewhere");
    TsmSource source(std::move(fs), TsmOptions{.report_dir = kDir, .privlevel = std::nullopt});
    auto ev = source.fetch(nonce(26));
    ASSERT_FALSE(ev.has_value());
    EXPECT_EQ(ev.error().code, ErrorCode::Unavailable);
    EXPECT_NE(ev.error().message.find("6.7"), std::string::npos) << ev.error().message;
}

TEST(TsmSource, KernelWithoutAuxblobGivesNoCertificates) {
    TsmFixture f;
    f.fake->has_auxblob = false;
    auto ev = f.source->fetch(nonce(27));
    ASSERT_TRUE(ev.has_value()) << ev.error().message;
    EXPECT_TRUE(ev->certs.empty());
}

TEST(TsmSource, ProbeReadsTheProviderAndCleansUp) {
    FakeTsmFs fs(chain(), kDir);
    fs.provider = "sev_guest";
    auto p = probe_tsm_provider(fs, kDir);
    ASSERT_TRUE(p.has_value()) << p.error().message;
    EXPECT_EQ(*p, "sev_guest");
    EXPECT_TRUE(fs.entries.empty());
    EXPECT_EQ(fs.firmware_requests, 0);
}

}  // namespace
}  // namespace cvmunlock::snp
