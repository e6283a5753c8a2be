// Parsing and replaying the real event logs in tests/data/eventlog.
#include <gtest/gtest.h>

#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/replay.hpp"
#include "test_data.hpp"

namespace cvmunlock {
namespace {

using testing::log_vectors;
using testing::read_data;

constexpr const char* kEbsLog = "go-attestation/ebs_event_missing_eventlog";

TEST(EventLogVectors, EveryLogReplaysToItsExpectedPcrs) {
    for (const auto& v : log_vectors()) {
        SCOPED_TRACE(v.name);
        const Bytes raw = read_data(v.path);
        auto log = parse_event_log(raw);
        ASSERT_TRUE(log.has_value()) << log.error().message;
        auto replayed = replay_event_log(*log);
        ASSERT_TRUE(replayed.has_value()) << replayed.error().message;
        std::size_t compared = 0;
        for (const auto& [alg, pcrs] : v.expected) {
            ASSERT_TRUE(replayed->banks.contains(alg)) << hash_alg_name(alg);
            for (const auto& [pcr, value] : pcrs) {
                ASSERT_TRUE(replayed->banks[alg].contains(pcr)) << "PCR " << pcr;
                ++compared;
                if (v.name == kEbsLog && pcr == 5) {
                    // Firmware left out the ExitBootServices events: the log must not fit.
                    EXPECT_NE(to_hex(replayed->banks[alg][pcr]), to_hex(value));
                    EXPECT_EQ(to_hex(replayed->banks[alg][pcr]), "e5781a2fd49c23a33b16bf0ba5f10efa1aa5d43c");
                } else {
                    EXPECT_EQ(to_hex(replayed->banks[alg][pcr]), to_hex(value))
                        << hash_alg_name(alg) << " PCR " << pcr;
                }
            }
        }
        if (!v.expected.empty()) {
            EXPECT_GT(compared, 0u);
        }
    }
}

TEST(EventLogVectors, RecordCountsAndLocalityMatchTheProvenance) {
    for (const auto& v : log_vectors()) {
        SCOPED_TRACE(v.name);
        const auto meta = testing::expected_metadata(v.name);
        auto log = parse_event_log(read_data(v.path));
        ASSERT_TRUE(log.has_value()) << log.error().message;
        auto replayed = replay_event_log(*log);
        ASSERT_TRUE(replayed.has_value());
        if (meta.contains("events_after_specid")) {
            EXPECT_EQ(log->format, LogFormat::CryptoAgile);
            EXPECT_EQ(replayed->events, meta["events_after_specid"].get<std::size_t>() + 1);
        }
        if (meta.contains("events")) {
            EXPECT_EQ(log->format, LogFormat::Legacy);
            EXPECT_EQ(replayed->events, meta["events"].get<std::size_t>());
        }
        if (meta.contains("startup_locality")) {
            if (meta["startup_locality"].is_null()) {
                EXPECT_FALSE(replayed->startup_locality.has_value());
            } else {
                ASSERT_TRUE(replayed->startup_locality.has_value());
                EXPECT_EQ(*replayed->startup_locality, meta["startup_locality"].get<int>());
            }
        }
        if (meta.contains("spec_id_algorithms")) {
            ASSERT_TRUE(log->spec_id.has_value());
            std::vector<std::string> names;
            for (const auto& a : log->spec_id->algorithms) {
                names.emplace_back(hash_alg_name(*hash_alg_from_id(a.alg_id)));
            }
            EXPECT_EQ(names, meta["spec_id_algorithms"].get<std::vector<std::string>>());
        }
    }
}

TEST(EventLogVectors, ShortLegacyNoActionLogSetsPcr0FromLocality) {
    auto log = parse_event_log(read_data("eventlog/go-attestation/short_no_action_eventlog"));
    ASSERT_TRUE(log.has_value()) << log.error().message;
    EXPECT_EQ(log->format, LogFormat::Legacy);
    ASSERT_EQ(log->events.size(), 1u);
    auto replayed = replay_event_log(*log);
    ASSERT_TRUE(replayed.has_value());
    ASSERT_EQ(replayed->startup_locality, std::optional<std::uint8_t>(3));
    EXPECT_EQ(to_hex(replayed->banks.at(HashAlg::Sha1).at(0)), "0000000000000000000000000000000000000003");
}

TEST(EventLogVectors, SerializeRoundTripsEveryLog) {
    for (const auto& v : log_vectors()) {
        SCOPED_TRACE(v.name);
        const Bytes raw = read_data(v.path);
        auto log = parse_event_log(raw);
        ASSERT_TRUE(log.has_value());
        const Bytes again = serialize_event_log(*log);
        ASSERT_EQ(again.size() + log->trailing_padding, raw.size());
        EXPECT_TRUE(std::equal(again.begin(), again.end(), raw.begin()));
    }
}

TEST(EventLogVectors, PaddingAfterTheLastRecordIsIgnored) {
    Bytes raw = read_data("eventlog/go-tpm-tools/gdc-host.bin");
    auto plain = parse_event_log(raw);
    ASSERT_TRUE(plain.has_value());
    for (int pad : {0x00, 0xFF}) {
        Bytes padded = raw;
        padded.insert(padded.end(), 4096, static_cast<std::uint8_t>(pad));
        auto log = parse_event_log(padded);
        ASSERT_TRUE(log.has_value()) << log.error().message;
        EXPECT_EQ(log->events.size(), plain->events.size());
        EXPECT_EQ(log->trailing_padding, plain->trailing_padding + 4096);
    }
}

TEST(EventLogVectors, GdcHostEvent3DataDoesNotMatchItsDigest) {
    auto log = parse_event_log(read_data("eventlog/go-tpm-tools/gdc-host.bin"));
    ASSERT_TRUE(log.has_value());
    EXPECT_EQ(check_event_digest(log->events.at(3)), DigestCheck::Mismatch);
}

TEST(EventLogVectors, NoActionEventsAreNeverExtended) {
    auto log = parse_event_log(read_data("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin"));
    ASSERT_TRUE(log.has_value());
    auto before = replay_event_log(*log);
    ASSERT_TRUE(before.has_value());
    // Give every EV_NO_ACTION record a non-zero digest: the replay must not change.
    for (auto& ev : log->events) {
        if (ev.type != event_type::kNoAction) continue;
        for (auto& d : ev.digests) d.digest.assign(d.digest.size(), 0x5a);
    }
    auto after = replay_event_log(*log);
    ASSERT_TRUE(after.has_value());
    EXPECT_EQ(before->banks, after->banks);
}

}  // namespace
}  // namespace cvmunlock
