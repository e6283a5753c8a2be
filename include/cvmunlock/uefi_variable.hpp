// UEFI_VARIABLE_DATA (PFP 10.4.4 / TCG PC Client FW Profile Table 14):
// VariableName GUID(16) UnicodeNameLength(8) VariableDataLength(8)
// UnicodeName[UnicodeNameLength] (CHAR16) VariableData[VariableDataLength].
#pragma once

#include <optional>
#include <string>

#include "cvmunlock/bytes.hpp"

namespace cvmunlock {

struct UefiVariableView {
    ByteView guid;          // 16 bytes, EFI_GUID layout
    std::u16string name;    // decoded CHAR16 name
    ByteView data;          // VariableData
};

// nullopt when the lengths do not fit the buffer exactly.
std::optional<UefiVariableView> parse_uefi_variable(ByteView event_data);

// EFI_GUID text form (8-4-4-4-12, the first three fields little-endian).
std::string guid_to_string(ByteView guid16);

// CHAR16 to UTF-8 for display; unpaired surrogates become U+FFFD.
std::string utf16_to_utf8(const std::u16string& s);

}  // namespace cvmunlock
