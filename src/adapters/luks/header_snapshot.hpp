// A private, immutable copy of a LUKS2 volume's whole metadata region (both
// headers and the keyslot area) in a sealed memfd. Checks and activation both
// use this copy, so the host cannot change the header between check and use.
#pragma once

#include <string>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"

namespace cvmunlock::luks {

// Both LUKS2 header copies of `device` (2 * hdr_size bytes, keyslot area not
// included), read once: what the token plugin checks against the header
// libcryptsetup loaded. `device` must be a block device or a regular file.
Result<Bytes> read_luks2_headers(const std::string& device);

class HeaderSnapshot {
public:
    static Result<HeaderSnapshot> take(const std::string& device);
    ~HeaderSnapshot();
    HeaderSnapshot(HeaderSnapshot&& o) noexcept;
    HeaderSnapshot& operator=(HeaderSnapshot&&) = delete;
    HeaderSnapshot(const HeaderSnapshot&) = delete;

    [[nodiscard]] const Bytes& bytes() const noexcept { return bytes_; }
    // "/proc/self/fd/N": a header path libcryptsetup can load from.
    [[nodiscard]] std::string path() const;

private:
    HeaderSnapshot(int fd, Bytes bytes) noexcept : fd_(fd), bytes_(std::move(bytes)) {}
    int fd_ = -1;
    Bytes bytes_;
};

}  // namespace cvmunlock::luks
