// eventlog verify against a live (software) TPM: swtpm through the tpm2-tss TCTI.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "cvmunlock/eventlog.hpp"
#include "process.hpp"
#include "eventlog_edit.hpp"
#include "swtpm.hpp"
#include "temp_dir.hpp"
#include "tpm/tpm_context.hpp"

namespace cvmunlock {
namespace {

using testing::run_process;

const std::string kLog = std::string(CVMUNLOCK_TEST_DATA) + "/eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin";

Bytes read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Extends every measured event of the log into the TPM, as firmware would have.
void extend_log(tpm::TpmContext& tpm, const EventLog& log, const std::vector<HashAlg>& banks) {
    for (const Event& ev : log.events) {
        if (ev.type == event_type::kNoAction) continue;
        std::vector<EventDigest> digests;
        for (const auto& d : ev.digests) {
            auto alg = hash_alg_from_id(d.alg_id);
            if (alg && std::find(banks.begin(), banks.end(), *alg) != banks.end()) digests.push_back(d);
        }
        auto r = tpm.extend(ev.pcr, digests);
        ASSERT_TRUE(r.has_value()) << r.error().message;
    }
}

class EventLogSwtpm : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(swtpm.ok()) << swtpm.error();
        auto ctx = tpm::TpmContext::open(swtpm.tcti());
        ASSERT_TRUE(ctx.has_value()) << ctx.error().message;
        tpm = std::move(*ctx);
        auto b = tpm->allocated_banks();
        ASSERT_TRUE(b.has_value()) << b.error().message;
        banks = *b;
        auto parsed = parse_event_log(read_file(kLog));
        ASSERT_TRUE(parsed.has_value());
        log = std::move(*parsed);
        extend_log(*tpm, log, banks);
    }
    testing::Swtpm swtpm;
    std::unique_ptr<tpm::TpmContext> tpm;
    std::vector<HashAlg> banks;
    EventLog log;
    testing::TempDir dir;
};

void write_bytes(const std::string& path, const Bytes& bytes) {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                 static_cast<std::streamsize>(bytes.size()));
}

TEST_F(EventLogSwtpm, VerifyPassesWhenTheTpmSawTheLog) {
    auto r = run_process({CVMUNLOCK_CLI, "eventlog", "verify", "--eventlog", kLog, "--tpm", swtpm.tcti()});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("OK:"), std::string::npos) << r.out;

    // The TCTI can also come from the environment.
    r = run_process({CVMUNLOCK_CLI, "eventlog", "verify", "--eventlog", kLog, "--tpm", "--json"},
                    {"CVMUNLOCK_TCTI=" + swtpm.tcti()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_TRUE(j["ok"].get<bool>());
    EXPECT_TRUE(j["comparison"]["matches"].get<bool>());
    EXPECT_EQ(j["version"], 1);
    EXPECT_GE(j["comparison"]["compared"].get<int>(), 11);
}

TEST_F(EventLogSwtpm, OneMoreExtendFailsNamingThePcr) {
    EventDigest extra{static_cast<std::uint16_t>(banks.front()), Bytes(hash_alg_size(banks.front()), 0x42)};
    ASSERT_TRUE(tpm->extend(4, {extra}).has_value());
    auto r = run_process({CVMUNLOCK_CLI, "eventlog", "verify", "--eventlog", kLog, "--tpm", swtpm.tcti()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("PCR 4:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("last event extended into PCR 4"), std::string::npos) << r.out;

    r = run_process({CVMUNLOCK_CLI, "eventlog", "verify", "--eventlog", kLog, "--tpm", swtpm.tcti(), "--json"});
    EXPECT_EQ(r.exit_code, 1);
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["comparison"]["mismatches"].size(), 1u);
    EXPECT_EQ(j["comparison"]["mismatches"][0]["pcr"], 4);
    EXPECT_EQ(j["ok"], false);
    EXPECT_EQ(j["error"]["code"], "log-mismatch");
    EXPECT_EQ(j["error"]["exit"], 1);

    // Restricted to other PCRs, the same TPM passes.
    r = run_process({CVMUNLOCK_CLI, "eventlog", "verify", "--eventlog", kLog, "--tpm", swtpm.tcti(), "--pcrs", "0,7"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

// A log from which every PCR 5 event was cut (a host hiding what it measured)
// still names PCR 5: PCRs 0-7 are always compared, whatever the log touches.
TEST_F(EventLogSwtpm, LogWithoutItsPcr5EventsFailsNamingPcr5) {
    const std::string cut = (dir.path() / "no-pcr5.bin").string();
    write_bytes(cut, serialize_event_log(testing::without_pcr(log, 5)));
    auto r = run_process({CVMUNLOCK_CLI, "eventlog", "verify", "--eventlog", cut, "--tpm", swtpm.tcti()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("PCR 5:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("no event in the log extends PCR 5"), std::string::npos) << r.out;
    // The same decision in the boot agent's check (one engine function).
    r = run_process({CVMUNLOCK_CLI, "agent", "check", "--eventlog", cut, "--tpm", swtpm.tcti(), "--json"});
    EXPECT_NE(r.out.find("\"pcr\": 5"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"ok\": false"), std::string::npos) << r.out;
}

// A log that records only SHA-1, against a TPM whose sha256 PCRs the firmware
// extended: asked for sha256, verify says the log has none; by default the
// sha256 PCRs are compared with their reset values and the run fails.
TEST_F(EventLogSwtpm, LogWithoutTheBankAskedForSaysSo) {
    const std::string sha1 = (dir.path() / "sha1-only.bin").string();
    write_bytes(sha1, serialize_event_log(testing::only_bank(log, HashAlg::Sha1)));
    auto r = run_process({CVMUNLOCK_CLI, "eventlog", "verify", "--eventlog", sha1, "--tpm", swtpm.tcti(), "--pcr-bank", "sha256"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("records no sha256 digests (it has: sha1)"), std::string::npos) << r.err;
    r = run_process({CVMUNLOCK_CLI, "eventlog", "verify", "--eventlog", sha1, "--tpm", swtpm.tcti()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("NOTE: the log records no sha256 digests"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("MISMATCH sha256 PCR 0"), std::string::npos) << r.out;
    r = run_process({CVMUNLOCK_CLI, "eventlog", "verify", "--eventlog", sha1, "--tpm", swtpm.tcti(), "--pcr-bank", "sha1"});
    EXPECT_EQ(r.exit_code, 0) << "the sha1 bank alone is explained: " << r.out << r.err;
}

TEST_F(EventLogSwtpm, PcrReadAgreesWithTpm2Tools) {
    auto ours = tpm->read_pcrs({{HashAlg::Sha256, {0, 4, 7, 9, 14}}});
    ASSERT_TRUE(ours.has_value()) << ours.error().message;
    auto r = run_process({"tpm2_pcrread", "-T", swtpm.tcti(), "sha256:0,4,7,9,14"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (std::uint32_t pcr : {0u, 4u, 7u, 9u, 14u}) {
        std::string hex = to_hex(ours->at(HashAlg::Sha256).at(pcr));
        for (auto& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        EXPECT_NE(r.out.find(hex), std::string::npos) << "PCR " << pcr << "\n" << r.out;
    }
}

TEST(EventLogNoTpm, UnreachableTpmIsEnvironmentUnavailable) {
    auto r = run_process({CVMUNLOCK_CLI, "eventlog", "verify", "--eventlog", kLog, "--tpm", "swtpm:host=127.0.0.1,port=1"});
    EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
    EXPECT_NE(r.err.find("cannot"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace cvmunlock
