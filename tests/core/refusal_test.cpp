#include <gtest/gtest.h>

#include "cvmunlock/refusal.hpp"

namespace cvmunlock {
namespace {

// A PCR 4 event whose sha256 digest starts with `first`.
Event pcr4_event(std::uint8_t first) {
    Event ev;
    ev.pcr = 4;
    ev.type = event_type::kEfiBootServicesApplication;
    Bytes digest(32, 0x00);
    digest[0] = first;
    ev.digests.push_back({static_cast<std::uint16_t>(HashAlg::Sha256), digest});
    return ev;
}

// Enrolled with three PCR 4 events (0x01, 0x02, 0x03); PCR 4 now reads differently.
struct Enrolled {
    CvmToken token;
    PcrValues now;
    Enrolled() {
        token.pcr_bank = HashAlg::Sha256;
        token.pcrs = {4};
        token.pcr_values[4] = Bytes(32, 0xAA);
        for (std::uint8_t b : {std::uint8_t{0x01}, std::uint8_t{0x02}, std::uint8_t{0x03}}) {
            Bytes prefix(kEventDigestPrefix, 0x00);
            prefix[0] = b;
            token.events[4].push_back(prefix);
        }
        now[HashAlg::Sha256][4] = Bytes(32, 0xBB);
    }
};

TEST(Refusal, NamesTheFirstEventThatDiffers) {
    Enrolled e;
    EventLog log;
    for (std::uint8_t b : {std::uint8_t{0x01}, std::uint8_t{0x02}, std::uint8_t{0x09}}) log.events.push_back(pcr4_event(b));
    const auto changes = explain_refusal(e.token, e.now, &log);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].event_index, std::optional<std::size_t>(2));
    const std::string text = describe_change(changes[0], HashAlg::Sha256);
    EXPECT_NE(text.find("PCR 4 (sha256) changed since enrollment"), std::string::npos) << text;
    EXPECT_NE(text.find("; first differing event #2 EV_EFI_BOOT_SERVICES_APPLICATION"), std::string::npos) << text;
}

// A log that only lost events (a boot loader that measured less) has no event
// that differs: the refusal says how many are missing, not "first differing event".
TEST(Refusal, SaysHowManyEventsAreMissingWhenNoneDiffers) {
    Enrolled e;
    EventLog log;
    log.events.push_back(pcr4_event(0x01));
    const auto changes = explain_refusal(e.token, e.now, &log);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_FALSE(changes[0].event_index.has_value());
    const std::string text = describe_change(changes[0], HashAlg::Sha256);
    EXPECT_NE(text.find("; the log has 2 fewer events in this PCR than at enrollment"), std::string::npos) << text;
    EXPECT_EQ(text.find("first differing event"), std::string::npos) << text;
}

}  // namespace
}  // namespace cvmunlock
