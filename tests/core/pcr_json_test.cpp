#include <gtest/gtest.h>

#include "cvmunlock/pcr_json.hpp"

namespace cvmunlock {
namespace {

TEST(PcrJson, ParsesAndRoundTrips) {
    const std::string text = R"({"banks": {"sha1": {"0": ")" + std::string(40, 'a') + R"(", "23": ")" +
                             std::string(40, '0') + R"("}}})";
    auto v = pcr_values_from_json(text);
    ASSERT_TRUE(v.has_value()) << v.error().message;
    EXPECT_EQ(v->at(HashAlg::Sha1).size(), 2u);
    auto again = pcr_values_from_json(pcr_values_to_json(*v).dump());
    EXPECT_EQ(*again, *v);
}

TEST(PcrJson, RejectsWithAReason) {
    const std::string h40(40, 'a');
    const struct {
        std::string text;
        std::string reason;
    } cases[] = {
        {"not json", "not valid JSON"},
        {"[]", "banks"},
        {R"({"banks": {"md5": {}}})", "unknown bank"},
        {R"({"banks": {"sha1": {"24": ")" + h40 + R"("}}})", "\"24\""},
        {R"({"banks": {"sha1": {"01": ")" + h40 + R"("}}})", "\"01\""},
        {R"({"banks": {"sha1": {"0": "abcd"}}})", "40 hex digits"},
        {R"({"banks": {"sha256": {"0": ")" + h40 + R"("}}})", "64 hex digits"},
        {R"({"banks": {"sha1": {"0": 5}}})", "hex string"},
    };
    for (const auto& c : cases) {
        auto v = pcr_values_from_json(c.text);
        ASSERT_FALSE(v.has_value()) << c.text;
        EXPECT_EQ(v.error().code, ErrorCode::InvalidInput);
        EXPECT_NE(v.error().message.find(c.reason), std::string::npos) << v.error().message;
    }
}

}  // namespace
}  // namespace cvmunlock
