// Mutations of the real logs: altered digests, truncation at and inside
// records, absurd sizes and counts. Each must give a malformed-input error or
// a reported PCR mismatch, never a crash or a silent pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/replay.hpp"
#include "test_data.hpp"

namespace cvmunlock {
namespace {

using testing::log_vectors;
using testing::read_data;

bool touches_expected(const Event& ev, const PcrValues& expected) {
    if (ev.type == event_type::kNoAction) return false;
    for (const auto& d : ev.digests) {
        auto alg = hash_alg_from_id(d.alg_id);
        if (alg && expected.contains(*alg) && expected.at(*alg).contains(ev.pcr)) return true;
    }
    return false;
}

Comparison compare_with(const EventLog& log, const PcrValues& expected) {
    auto replayed = replay_event_log(log);
    EXPECT_TRUE(replayed.has_value());
    auto cmp = compare_pcrs(*replayed, expected, {});
    EXPECT_TRUE(cmp.has_value());
    return *cmp;
}

// Offsets of interest inside each record: header fields, digest boundaries, data.
std::vector<std::size_t> cut_points(const EventLog& log, const Bytes& raw) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 0; i < log.events.size(); ++i) {
        const std::size_t start = log.events[i].offset;
        const std::size_t end = i + 1 < log.events.size() ? log.events[i + 1].offset : raw.size();
        for (std::size_t delta : {1u, 4u, 8u, 11u, 12u, 14u, 20u, 30u, 34u, 60u, 90u}) {
            if (start + delta < end) cuts.push_back(start + delta);
        }
        cuts.push_back(end - 1);
        cuts.push_back(start + (end - start) / 2);
    }
    return cuts;
}

TEST(EventLogMutation, AlteredDigestIsReportedAsMismatchOfItsPcr) {
    for (const auto& v : log_vectors()) {
        if (v.expected.empty()) continue;
        SCOPED_TRACE(v.name);
        auto log = parse_event_log(read_data(v.path));
        ASSERT_TRUE(log.has_value());
        for (std::size_t i = 0; i < log->events.size(); ++i) {
            if (!touches_expected(log->events[i], v.expected)) continue;
            EventLog mutated = *log;
            Event& ev = mutated.events[i];
            for (auto& d : ev.digests) d.digest[0] ^= 0x01;
            const Comparison cmp = compare_with(mutated, v.expected);
            bool named = false;
            for (const auto& m : cmp.mismatches) named |= m.pcr == ev.pcr;
            EXPECT_TRUE(named) << "event " << i << " PCR " << ev.pcr;
            EXPECT_FALSE(cmp.ok());
        }
    }
}

TEST(EventLogMutation, TruncationAtEveryRecordBoundaryIsCaught) {
    for (const auto& v : log_vectors()) {
        if (v.expected.empty()) continue;
        SCOPED_TRACE(v.name);
        const Bytes raw = read_data(v.path);
        auto log = parse_event_log(raw);
        ASSERT_TRUE(log.has_value());
        for (std::size_t k = 1; k < log->events.size(); ++k) {
            auto cut = parse_event_log(ByteView(raw).first(log->events[k].offset));
            ASSERT_TRUE(cut.has_value()) << "boundary " << k << ": " << cut.error().message;
            ASSERT_EQ(cut->events.size(), k);
            // PCRs whose events were cut off; all of them if the selection is explicit.
            std::set<std::uint32_t> lost;
            for (std::size_t j = k; j < log->events.size(); ++j) {
                if (touches_expected(log->events[j], v.expected)) lost.insert(log->events[j].pcr);
            }
            if (lost.empty()) continue;
            auto replayed = replay_event_log(*cut);
            ASSERT_TRUE(replayed.has_value());
            CompareOptions named;
            named.pcrs = lost;
            EXPECT_FALSE(compare_pcrs(*replayed, v.expected, named)->ok()) << "boundary " << k;
            // By default the firmware PCRs 0-7 and every PCR the cut log still touches are compared.
            bool visible = false;
            for (std::uint32_t pcr : lost) {
                visible |= pcr < 8 || std::any_of(cut->events.begin(), cut->events.end(), [&](const Event& e) {
                               return e.pcr == pcr && e.type != event_type::kNoAction;
                           });
            }
            if (visible) {
                EXPECT_FALSE(compare_with(*cut, v.expected).ok()) << "boundary " << k;
            }
        }
    }
}

TEST(EventLogMutation, TruncationInsideARecordIsMalformedWithItsOffset) {
    for (const auto& v : log_vectors()) {
        SCOPED_TRACE(v.name);
        const Bytes raw = read_data(v.path);
        auto log = parse_event_log(raw);
        ASSERT_TRUE(log.has_value());
        std::set<std::size_t> starts;
        for (const auto& ev : log->events) starts.insert(ev.offset);
        for (std::size_t cut : cut_points(*log, raw)) {
            auto r = parse_event_log(ByteView(raw).first(cut));
            if (r.has_value()) {
                // Only acceptable when the partial record was all 0x00/0xFF, i.e. padding.
                const std::size_t whole = static_cast<std::size_t>(std::distance(starts.begin(), starts.upper_bound(cut)));
                EXPECT_EQ(r->events.size() + 1, whole) << "cut at " << cut;
                EXPECT_GT(r->trailing_padding, 0u);
                continue;
            }
            EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
            EXPECT_NE(r.error().message.find("byte offset"), std::string::npos) << r.error().message;
        }
    }
}

void set_le32(Bytes& b, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

TEST(EventLogMutation, AbsurdSizesAndCountsAreMalformed) {
    const Bytes raw = read_data("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin");
    auto log = parse_event_log(raw);
    ASSERT_TRUE(log.has_value());
    const std::size_t algs = log->spec_id->algorithms.size();
    for (std::uint32_t huge : {0xFFFFFFFFu, 0x7FFFFFFFu, 0x01000000u}) {
        // Spec ID numberOfAlgorithms sits at 32 (record header) + 24.
        Bytes b = raw;
        set_le32(b, 32 + 24, huge);
        auto r = parse_event_log(b);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);

        // Record 1: digest count at +8, event size after the digests.
        b = raw;
        const std::size_t rec = log->events[1].offset;
        set_le32(b, rec + 8, huge);
        r = parse_event_log(b);
        ASSERT_FALSE(r.has_value());
        EXPECT_NE(r.error().message.find(std::to_string(rec + 8)), std::string::npos) << r.error().message;

        b = raw;
        std::size_t size_at = rec + 12;
        for (const auto& d : log->events[1].digests) size_at += 2 + d.digest.size();
        set_le32(b, size_at, huge);
        r = parse_event_log(b);
        ASSERT_FALSE(r.has_value());
        EXPECT_NE(r.error().message.find(std::to_string(size_at)), std::string::npos) << r.error().message;
    }
    EXPECT_GT(algs, 0u);
}

TEST(EventLogMutation, LegacyRecordWithHugeSizeIsMalformed) {
    Bytes raw = read_data("eventlog/go-attestation/ebs_event_missing_eventlog");
    set_le32(raw, 28, 0xFFFFFFF0u);
    auto r = parse_event_log(raw);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(r.error().message.find("offset 28"), std::string::npos) << r.error().message;
}

TEST(EventLogMutation, DigestOfUndeclaredAlgorithmIsMalformed) {
    Bytes raw = read_data("eventlog/go-tpm-tools/gdc-host.bin");
    auto log = parse_event_log(raw);
    ASSERT_TRUE(log.has_value());
    const std::size_t at = log->events[2].offset + 12;  // first digest's algorithm id
    raw[at] = 0x0C;                                     // sha384, not in this SHA-256-only log
    auto r = parse_event_log(raw);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("not declared"), std::string::npos) << r.error().message;
}

TEST(EventLogMutation, EmptyAndPaddingOnlyInputsAreMalformed) {
    for (const Bytes& b : {Bytes{}, Bytes(100, 0x00), Bytes(100, 0xFF)}) {
        auto r = parse_event_log(b);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
    }
}

}  // namespace
}  // namespace cvmunlock
