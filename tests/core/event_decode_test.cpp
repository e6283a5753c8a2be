#include <gtest/gtest.h>

#include <set>

#include "cvmunlock/event_decode.hpp"
#include "test_data.hpp"

namespace cvmunlock {
namespace {

std::string summary_of(const EventLog& log, std::size_t i) {
    return decode_event_data(log.events.at(i))["summary"].get<std::string>();
}

TEST(EventDecode, RealLogsDecodeTheCommonTypes) {
    auto log = parse_event_log(testing::read_data("eventlog/go-tpm-tools/gdc-host.bin"));
    ASSERT_TRUE(log.has_value());
    EXPECT_EQ(summary_of(*log, 1), "StartupLocality 3");
    EXPECT_EQ(summary_of(*log, 9), "SecureBoot = 0");
    std::set<std::string> types;
    for (const auto& ev : log->events) {
        const auto j = decode_event_data(ev);
        ASSERT_TRUE(j.contains("summary"));
        EXPECT_FALSE(j.contains("malformed")) << event_type_name(ev.type);
        types.insert(event_type_name(ev.type));
    }
    EXPECT_TRUE(types.contains("EV_EFI_BOOT_SERVICES_APPLICATION"));
    EXPECT_TRUE(types.contains("EV_EFI_GPT_EVENT"));
    EXPECT_TRUE(types.contains("EV_EVENT_TAG"));
}

TEST(EventDecode, LinuxInitrdTagIsNamed) {
    auto log = parse_event_log(testing::read_data("eventlog/go-tpm-tools/gdc-host.bin"));
    ASSERT_TRUE(log.has_value());
    bool initrd = false;
    for (const auto& ev : log->events) {
        if (ev.type != event_type::kEventTag) continue;
        const auto j = decode_event_data(ev);
        initrd |= j.value("linux", "") == "initrd" && j.value("text", "") == "Linux initrd";
    }
    EXPECT_TRUE(initrd);
}

TEST(EventDecode, TruncatedDataIsShownAsMalformed) {
    auto log = parse_event_log(testing::read_data("eventlog/go-tpm-tools/gdc-host.bin"));
    ASSERT_TRUE(log.has_value());
    for (const auto& original : log->events) {
        for (std::size_t keep : {std::size_t{0}, std::size_t{3}, original.data.size() / 2}) {
            Event ev = original;
            ev.data.resize(std::min(keep, ev.data.size()));
            const auto j = decode_event_data(ev);  // must not crash or throw
            EXPECT_TRUE(j.contains("summary"));
        }
    }
    Event var;
    var.type = event_type::kEfiVariableDriverConfig;
    var.data = Bytes(40, 0xFF);
    EXPECT_TRUE(decode_event_data(var).value("malformed", false));
    EXPECT_EQ(event_type_name(0x1234), "EV_UNKNOWN_0x00001234");
}

}  // namespace
}  // namespace cvmunlock
