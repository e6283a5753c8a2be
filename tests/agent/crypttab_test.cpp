#include <gtest/gtest.h>

#include "crypttab.hpp"

namespace cvmunlock::agent {
namespace {

TEST(Crypttab, FindsTheVolumeDevice) {
    const std::string tab =
        "# comment\n"
        "swap /dev/vdb2 /dev/urandom swap\n"
        "root UUID=1234-abcd /run/cvmunlock/key.sock luks\n"
        "data PARTLABEL=data none luks,discard\n";
    EXPECT_EQ(device_for_volume(tab, "root"), "/dev/disk/by-uuid/1234-abcd");
    EXPECT_EQ(device_for_volume(tab, "data"), "/dev/disk/by-partlabel/data");
    EXPECT_EQ(device_for_volume(tab, "swap"), "/dev/vdb2");
    EXPECT_EQ(device_for_volume(tab, "luks-5e1f"), "/dev/disk/by-uuid/5e1f");
    EXPECT_FALSE(device_for_volume(tab, "other").has_value());
    EXPECT_FALSE(device_for_volume(tab, "luks-../../etc").has_value());
}

TEST(Crypttab, VolumeFromThePeerAddress) {
    using namespace std::string_literals;
    EXPECT_EQ(volume_from_peer("\0" "9f3a1c/cryptsetup/root"s), "root");
    EXPECT_FALSE(volume_from_peer("/run/x/cryptsetup/root").has_value());  // not abstract
    EXPECT_FALSE(volume_from_peer("\0" "abc/other/root"s).has_value());
    EXPECT_FALSE(volume_from_peer("\0" "abc/cryptsetup/"s).has_value());
    EXPECT_FALSE(volume_from_peer("\0" "abc/cryptsetup/../x"s).has_value());
}

}  // namespace
}  // namespace cvmunlock::agent
