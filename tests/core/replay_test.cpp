// Replay rules on small logs built with the serializer's model.
#include <gtest/gtest.h>

#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/replay.hpp"

namespace cvmunlock {
namespace {

EventLog agile_log() {
    EventLog log;
    log.format = LogFormat::CryptoAgile;
    log.spec_id = SpecIdEvent{};
    log.spec_id->algorithms = {{0x000B, 32}};
    log.events.push_back(make_spec_id_record(*log.spec_id));
    return log;
}

Event event(std::uint32_t pcr, std::uint32_t type, Bytes data) {
    Event ev;
    ev.pcr = pcr;
    ev.type = type;
    ev.digests.push_back({0x000B, *hash_bytes(HashAlg::Sha256, data)});
    ev.data = std::move(data);
    return ev;
}

Event locality(std::uint8_t l) {
    Bytes data{'S', 't', 'a', 'r', 't', 'u', 'p', 'L', 'o', 'c', 'a', 'l', 'i', 't', 'y', 0, l};
    Event ev = event(0, event_type::kNoAction, data);
    ev.digests[0].digest.assign(32, 0);
    return ev;
}

TEST(Replay, HcrtmLocalityFourStartsPcr0AtFour) {
    EventLog log = agile_log();
    log.events.push_back(locality(4));
    log.events.push_back(event(0, event_type::kEfiHcrtmEvent, {'H', 'C', 'R', 'T', 'M'}));
    auto r = replay_event_log(log);
    ASSERT_TRUE(r.has_value());
    Bytes start(32, 0);
    start.back() = 4;
    EXPECT_EQ(r->banks[HashAlg::Sha256][0], *extend_digest(HashAlg::Sha256, start, log.events[2].digests[0].digest));
    EXPECT_EQ(r->startup_locality, std::optional<std::uint8_t>(4));
}

TEST(Replay, LocalityAloneListsPcr0) {
    EventLog log = agile_log();
    log.events.push_back(locality(3));
    auto r = replay_event_log(log);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(to_hex(r->banks[HashAlg::Sha256][0]), std::string(62, '0') + "03");
}

TEST(Replay, DrtmPcrsStartAtAllOnes) {
    EventLog log = agile_log();
    log.events.push_back(event(17, event_type::kAction, {'x'}));
    auto r = replay_event_log(log);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->banks[HashAlg::Sha256][17], *extend_digest(HashAlg::Sha256, Bytes(32, 0xFF), log.events[1].digests[0].digest));
}

TEST(Replay, PcrOutsideRangeIsMalformed) {
    EventLog log = agile_log();
    log.events.push_back(event(24, event_type::kAction, {'x'}));
    auto r = replay_event_log(log);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(r.error().message.find("PCR 24"), std::string::npos);
}

TEST(Replay, DigestChecksFollowTheEventType) {
    Event sep = event(7, event_type::kSeparator, {0, 0, 0, 0});
    EXPECT_EQ(check_event_digest(sep), DigestCheck::Match);
    sep.data[0] = 1;
    EXPECT_EQ(check_event_digest(sep), DigestCheck::Mismatch);
    Event tag = event(9, event_type::kEventTag, {1, 2, 3});
    tag.digests[0].digest[0] ^= 1;  // initrd digest is over the initrd, not the event data
    EXPECT_EQ(check_event_digest(tag), DigestCheck::NotApplicable);
}

TEST(Replay, CompareNamesMismatchAndLastEvent) {
    EventLog log = agile_log();
    log.events.push_back(event(7, event_type::kSeparator, {0, 0, 0, 0}));
    log.events.push_back(event(4, event_type::kEfiAction, {'a'}));
    auto r = replay_event_log(log);
    ASSERT_TRUE(r.has_value());
    PcrValues ref = r->banks;
    ref[HashAlg::Sha256][7][0] ^= 0xFF;
    auto cmp = compare_pcrs(*r, ref, {});
    ASSERT_TRUE(cmp.has_value());
    EXPECT_EQ(cmp->compared, 2u);
    ASSERT_EQ(cmp->mismatches.size(), 1u);
    EXPECT_EQ(cmp->mismatches[0].pcr, 7u);
    EXPECT_EQ(cmp->mismatches[0].last_event, std::optional<std::size_t>(1));
    EXPECT_FALSE(cmp->ok());

    CompareOptions only4;
    only4.pcrs = std::set<std::uint32_t>{4};
    EXPECT_TRUE(compare_pcrs(*r, ref, only4)->ok());

    CompareOptions missing;
    missing.pcrs = std::set<std::uint32_t>{4, 11};  // 11 absent from the reference
    auto m = compare_pcrs(*r, ref, missing);
    EXPECT_FALSE(m->ok());
    EXPECT_EQ(m->mismatches.at(0).pcr, 11u);

    CompareOptions sha1;
    sha1.bank = HashAlg::Sha1;
    EXPECT_EQ(compare_pcrs(*r, ref, sha1).error().code, ErrorCode::NotFound);

    EXPECT_FALSE(compare_pcrs(*r, PcrValues{}, {})->ok());  // nothing compared is not a pass
}

}  // namespace
}  // namespace cvmunlock
