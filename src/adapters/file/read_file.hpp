// Reading whole files, including pseudo-files whose st_size is 0
// (securityfs binary_bios_measurements).
#pragma once

#include <cstddef>
#include <string>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"

namespace cvmunlock::file {

inline constexpr std::size_t kDefaultMaxFileSize = 256u << 20;

// ENOENT/ENODEV give ErrorCode::Unavailable; a file larger than max_size, or
// one that is not a regular file (a FIFO would block, a directory has no
// content), gives ErrorCode::InvalidInput; other errors carry errno.
Result<Bytes> read_all(const std::string& path, std::size_t max_size = kDefaultMaxFileSize);

// Opens `path` read-only without blocking on it first (O_NONBLOCK: opening a
// FIFO would wait for a writer), and refuses anything but a regular file or,
// with `allow_block_device`, a block device. Returns the descriptor, in
// blocking mode; the caller closes it. Errors as read_all.
Result<int> open_input(const std::string& path, bool allow_block_device);

}  // namespace cvmunlock::file
