// Reading whole files, including pseudo-files whose st_size is 0
// (securityfs binary_bios_measurements).
#pragma once

#include <cstddef>
#include <string>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"

namespace cvmunlock::file {

inline constexpr std::size_t kDefaultMaxFileSize = 256u << 20;

// ENOENT/ENODEV give ErrorCode::Unavailable; a file larger than max_size gives
// ErrorCode::InvalidInput; other errors carry errno as the native value.
Result<Bytes> read_all(const std::string& path, std::size_t max_size = kDefaultMaxFileSize);

}  // namespace cvmunlock::file
