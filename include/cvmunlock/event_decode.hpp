// Decoding event data of the common event types for display.
#pragma once

#include <cstdint>
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

}  // namespace cvmunlock
