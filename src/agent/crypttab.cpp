#include "crypttab.hpp"

#include <sstream>

namespace cvmunlock::agent {

namespace {
std::string device_path(const std::string& spec) {
    static const std::pair<const char*, const char*> kPrefixes[] = {
        {"UUID=", "/dev/disk/by-uuid/"}, {"PARTUUID=", "/dev/disk/by-partuuid/"},
        {"LABEL=", "/dev/disk/by-label/"}, {"PARTLABEL=", "/dev/disk/by-partlabel/"}};
    for (const auto& [prefix, dir] : kPrefixes) {
        if (spec.rfind(prefix, 0) == 0) return dir + spec.substr(std::string(prefix).size());
    }
    return spec;
}

bool safe_component(const std::string& s) {
    if (s.empty() || s.size() > 128) return false;
    for (char c : s) {
        if (c == '/' || c == '\0' || c == '\n') return false;
    }
    return s != "." && s != "..";
}
}  // namespace

std::optional<std::string> device_for_volume(const std::string& crypttab_text, const std::string& name) {
    std::istringstream lines(crypttab_text);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string vol, dev;
        if (!(fields >> vol >> dev) || vol.empty() || vol[0] == '#') continue;
        if (vol == name) return device_path(dev);
    }
    constexpr const char* kGenerated = "luks-";
    if (name.rfind(kGenerated, 0) == 0 && safe_component(name.substr(5))) return "/dev/disk/by-uuid/" + name.substr(5);
    return std::nullopt;
}

std::optional<std::string> volume_from_peer(const std::string& abstract_name) {
    if (abstract_name.empty() || abstract_name[0] != '\0') return std::nullopt;
    constexpr const char* kMarker = "/cryptsetup/";
    const auto at = abstract_name.find(kMarker);
    if (at == std::string::npos) return std::nullopt;
    std::string volume = abstract_name.substr(at + std::string(kMarker).size());
    if (!safe_component(volume)) return std::nullopt;
    return volume;
}

}  // namespace cvmunlock::agent
