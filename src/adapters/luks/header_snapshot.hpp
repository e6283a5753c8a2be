// A private, immutable copy of a LUKS2 volume's metadata (both headers and
// the keyslot areas used) in a sealed memfd. Checks and activation both
// use this copy, so the host cannot change the header between check and use.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"

namespace cvmunlock::luks {

// Both LUKS2 header copies of `device` (2 * hdr_size bytes, keyslot area not
// included), read once: what the token plugin checks against the header
// libcryptsetup loaded. `device` must be a block device or a regular file.
Result<Bytes> read_luks2_headers(const std::string& device);

// A keyslot area (offset and length from the start of the device) to copy.
struct SnapshotArea {
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
};

class HeaderSnapshot {
public:
    // Copies both header copies of `device`, then the keyslot areas that
    // `areas` names given those headers' bytes (those are what is used); the
    // memfd has the size of the whole metadata region, the rest reads as zeros.
    // An area outside the keyslot area, or reaching past it, is refused.
    using AreaSelector = std::function<std::vector<SnapshotArea>(ByteView headers)>;
    static Result<HeaderSnapshot> take(const std::string& device, const AreaSelector& areas);
    ~HeaderSnapshot();
    HeaderSnapshot(HeaderSnapshot&& o) noexcept;
    HeaderSnapshot& operator=(HeaderSnapshot&&) = delete;
    HeaderSnapshot(const HeaderSnapshot&) = delete;

    // Both header copies (2 * hdr_size bytes), as copied.
    [[nodiscard]] const Bytes& bytes() const noexcept { return bytes_; }
    // "/proc/self/fd/N": a header path libcryptsetup can load from.
    [[nodiscard]] std::string path() const;

private:
    HeaderSnapshot(int fd, Bytes bytes) noexcept : fd_(fd), bytes_(std::move(bytes)) {}
    int fd_ = -1;
    Bytes bytes_;
};

}  // namespace cvmunlock::luks
