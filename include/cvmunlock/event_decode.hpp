// Decoding event data of the common event types for display.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cvmunlock/eventlog.hpp"

namespace cvmunlock {

// "EV_SEPARATOR", "EV_EFI_VARIABLE_BOOT", ... or "EV_UNKNOWN_0x..." .
std::string event_type_name(std::uint32_t type);

// Decoded fields of an event's data, always with a one-line "summary".
// Never fails: data that does not fit its type's layout is shown as
// {"summary": "malformed <layout> (<n> bytes)", "malformed": true}.
nlohmann::json decode_event_data(const Event& event);

// The file an EV_EFI_BOOT_SERVICES_APPLICATION event's image was loaded from:
// the last media file-path node of its device path ("\EFI\BOOT\grubx64.efi").
// nullopt for other events, and for an image loaded from memory (no file
// node: a kernel that grub loaded through shim).
std::optional<std::string> image_file_path(const Event& event);

// How every message names an event: "#12 EV_EFI_VARIABLE_DRIVER_CONFIG: db
// (3143 bytes)" (record index, type, decoded summary).
std::string describe_event(const EventLog& log, std::size_t index);

}  // namespace cvmunlock
