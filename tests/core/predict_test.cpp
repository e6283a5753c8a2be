#include <gtest/gtest.h>

#include "cvmunlock/authenticode.hpp"
#include "cvmunlock/predict.hpp"
#include "sample_pe.hpp"
#include "test_data.hpp"

namespace cvmunlock {
namespace {

// A real SEV-SNP guest's log in which the PCR 4 events of one image (its
// first two application events) are made to carry the image hash of `image`
// in every bank, as if the firmware and shim had loaded it.
struct BootWithImage {
    EventLog log;
    std::vector<std::size_t> events;
    explicit BootWithImage(const Bytes& image) {
        auto parsed = parse_event_log(testing::read_data("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin"));
        EXPECT_TRUE(parsed.has_value());
        log = std::move(*parsed);
        for (std::size_t i = 0; i < log.events.size() && events.size() < 2; ++i) {
            Event& ev = log.events[i];
            if (ev.pcr != 4 || ev.type != event_type::kEfiBootServicesApplication) continue;
            for (auto& d : ev.digests) d.digest = *authenticode_digest(image, *hash_alg_from_id(d.alg_id));
            events.push_back(i);
        }
        EXPECT_EQ(events.size(), 2u);
    }
};

TEST(Predict, ReplacesTheImagesEventsInEveryBankAndReplays) {
    const Bytes a = testing::sample_pe_image(1);
    const Bytes b = testing::sample_pe_image(2);
    BootWithImage boot(a);
    auto p = predict_image_updates(boot.log, {{"/boot/vmlinuz-old", a, "/boot/vmlinuz-new", b}});
    ASSERT_TRUE(p.has_value()) << p.error().message;
    ASSERT_EQ(p->replaced.size(), 2u);
    EXPECT_EQ(p->replaced[0].index, boot.events[0]);
    EXPECT_EQ(p->replaced[1].index, boot.events[1]);
    EXPECT_EQ(p->replaced[0].predicted.at(HashAlg::Sha256), *authenticode_digest(b, HashAlg::Sha256));

    // The expected next boot: the same log with b's hash in those events.
    BootWithImage next(b);
    auto expected = replay_event_log(next.log);
    ASSERT_TRUE(expected.has_value());
    EXPECT_EQ(p->predicted, expected->banks);
    for (const auto& [bank, pcrs] : p->predicted) {
        for (const auto& [pcr, value] : pcrs) {
            if (pcr == 4) {
                EXPECT_NE(value, p->current.at(bank).at(pcr)) << hash_alg_name(bank);
            } else {
                EXPECT_EQ(value, p->current.at(bank).at(pcr)) << "PCR " << pcr;
            }
        }
    }
}

TEST(Predict, AnImageThisBootDidNotLoadCannotBePredicted) {
    const Bytes a = testing::sample_pe_image(1);
    const Bytes other = testing::sample_pe_image(3);
    BootWithImage boot(a);
    auto p = predict_image_updates(boot.log, {{"/boot/vmlinuz-running", other, "/boot/vmlinuz-new", a}});
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code, ErrorCode::NotFound);
    EXPECT_NE(p.error().message.find("no PCR 4 event of this boot's log measured /boot/vmlinuz-running"),
              std::string::npos)
        << p.error().message;

    Bytes broken = a;
    broken[0] = 'X';
    p = predict_image_updates(boot.log, {{"/boot/vmlinuz-running", a, "/tmp/not-a-kernel", broken}});
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(p.error().message.find("/tmp/not-a-kernel: not a PE image"), std::string::npos) << p.error().message;
}

}  // namespace
}  // namespace cvmunlock
