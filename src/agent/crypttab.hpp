// Finding a volume's device from /etc/crypttab (crypttab(5)), for the key socket.
#pragma once

#include <optional>
#include <string>

namespace cvmunlock::agent {

// The device of volume `name`: from crypttab's second field (UUID=, PARTUUID=,
// LABEL=, PARTLABEL= or a path), else, for the "luks-<UUID>" names
// systemd-cryptsetup-generator gives rd.luks.uuid= volumes, /dev/disk/by-uuid/<UUID>.
std::optional<std::string> device_for_volume(const std::string& crypttab_text, const std::string& name);

// The volume name from a systemd-cryptsetup key-socket peer address:
// abstract "\0<random>/cryptsetup/<volume>" (systemd.exec, crypttab(5) key-file).
std::optional<std::string> volume_from_peer(const std::string& abstract_name);

}  // namespace cvmunlock::agent
