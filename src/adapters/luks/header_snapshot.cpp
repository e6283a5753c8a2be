#include "header_snapshot.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include <nlohmann/json.hpp>

#include "file/read_file.hpp"

namespace cvmunlock::luks {

namespace {
// LUKS2 On-Disk Format 2.1: hdr_size is a big-endian u64 at offset 8; the JSON
// area follows the 4096-byte binary header; both copies precede the keyslots.
constexpr std::size_t kBinaryHeaderSize = 4096;
constexpr std::size_t kHdrSizeOffset = 8;
constexpr std::uint64_t kMinHdrSize = 16384;
constexpr std::uint64_t kMaxHdrSize = 4u << 20;
constexpr std::uint64_t kMaxMetadata = 256u << 20;

std::unexpected<Error> io_error(const std::string& what) {
    const int err = errno;
    return fail(err == ENOENT || err == ENODEV ? ErrorCode::Unavailable : ErrorCode::Internal,
                what + ": " + std::strerror(err), err);
}

// Calls op(fd, data + done, size - done, offset + done) (pread or pwrite) until
// all `size` bytes are through; false on an error or end of file.
template <typename Byte, typename Op>
bool whole_at(Op op, int fd, Byte* data, std::size_t size, std::uint64_t offset) {
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = op(fd, data + done, size - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

bool read_at(int fd, std::uint8_t* out, std::size_t size, std::uint64_t offset) {
    return whole_at(::pread, fd, out, size, offset);
}

bool write_at(int fd, const std::uint8_t* data, std::size_t size, std::uint64_t offset) {
    return whole_at(::pwrite, fd, data, size, offset);
}

std::uint64_t load_be64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
}

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

struct Sizes {
    std::uint64_t headers = 0;   // both copies: 2 * hdr_size
    std::uint64_t metadata = 0;  // both copies and the keyslot area
};

// Metadata length: both headers plus config.keyslots_size from the primary's JSON.
Result<Sizes> metadata_size(int fd, const std::string& device) {
    std::uint8_t head[kBinaryHeaderSize];
    if (!read_at(fd, head, sizeof head, 0)) return fail(ErrorCode::InvalidInput, device + ": too short for a LUKS2 header");
    if (std::memcmp(head, "LUKS\xba\xbe\x00\x02", 8) != 0) return fail(ErrorCode::InvalidInput, device + ": not a LUKS2 header");
    const std::uint64_t hdr = load_be64(head + kHdrSizeOffset);
    if (hdr < kMinHdrSize || hdr > kMaxHdrSize || (hdr & (hdr - 1)) != 0) {
        return fail(ErrorCode::InvalidInput, device + ": LUKS2 hdr_size " + std::to_string(hdr) + " is invalid");
    }
    std::string json(hdr - kBinaryHeaderSize, '\0');
    if (!read_at(fd, reinterpret_cast<std::uint8_t*>(json.data()), json.size(), kBinaryHeaderSize)) {
        return fail(ErrorCode::InvalidInput, device + ": truncated LUKS2 JSON area");
    }
    json.resize(std::strlen(json.c_str()));
    const auto doc = nlohmann::json::parse(json, nullptr, false);
    const auto* ks = doc.is_object() && doc.contains("config") && doc["config"].is_object() &&
                             doc["config"].contains("keyslots_size") && doc["config"]["keyslots_size"].is_string()
                         ? doc["config"]["keyslots_size"].get_ptr<const std::string*>() : nullptr;
    std::uint64_t keyslots = 0;
    if (ks == nullptr || std::from_chars(ks->data(), ks->data() + ks->size(), keyslots).ec != std::errc() ||
        keyslots > kMaxMetadata) {
        return fail(ErrorCode::InvalidInput, device + ": LUKS2 config.keyslots_size missing or invalid");
    }
    return Sizes{2 * hdr, 2 * hdr + keyslots};
}

// Reads the first `which` bytes of the metadata (Sizes member) of `device`.
Result<Bytes> read_metadata(const std::string& device, std::uint64_t Sizes::*which) {
    auto fd = file::open_input(device, true);
    if (!fd) return std::unexpected(fd.error());
    Fd dev{*fd};
    auto size = metadata_size(dev.fd, device);
    if (!size) return std::unexpected(size.error());
    Bytes copy((*size).*which);
    if (!read_at(dev.fd, copy.data(), copy.size(), 0)) {
        return fail(ErrorCode::InvalidInput, device + ": shorter than its LUKS2 metadata");
    }
    return copy;
}

}  // namespace

Result<Bytes> read_luks2_headers(const std::string& device) { return read_metadata(device, &Sizes::headers); }

Result<HeaderSnapshot> HeaderSnapshot::take(const std::string& device, const AreaSelector& select) {
    auto opened = file::open_input(device, true);
    if (!opened) return std::unexpected(opened.error());
    Fd dev{*opened};
    auto size = metadata_size(dev.fd, device);
    if (!size) return std::unexpected(size.error());
    Bytes headers(size->headers);
    if (!read_at(dev.fd, headers.data(), headers.size(), 0)) {
        return fail(ErrorCode::InvalidInput, device + ": shorter than its LUKS2 headers");
    }
    const std::vector<SnapshotArea> areas = select ? select(headers) : std::vector<SnapshotArea>{};
    for (const auto& a : areas) {
        if (a.offset < size->headers || a.size > size->metadata || a.offset > size->metadata - a.size) {
            return fail(ErrorCode::InvalidInput, device + ": keyslot area at " + std::to_string(a.offset) + " (" +
                                                     std::to_string(a.size) + " bytes) is outside the keyslots area");
        }
    }

    const int fd = ::memfd_create("cvmunlock-luks2-header", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return io_error("memfd_create");
    Fd snap{fd};
    // The full size, so libcryptsetup's checks of the header device's size hold.
    if (::ftruncate(fd, static_cast<off_t>(size->metadata)) != 0) return io_error("sizing the header snapshot");
    if (!write_at(fd, headers.data(), headers.size(), 0)) return io_error("writing the header snapshot");
    Bytes area;
    for (const auto& a : areas) {
        area.resize(a.size);
        if (!read_at(dev.fd, area.data(), area.size(), a.offset)) {
            return fail(ErrorCode::InvalidInput, device + ": shorter than its keyslot area at " + std::to_string(a.offset));
        }
        if (!write_at(fd, area.data(), area.size(), a.offset)) return io_error("writing the header snapshot");
    }
    // F_SEAL_FUTURE_WRITE, not F_SEAL_WRITE: both refuse every later write,
    // hole punch and writable mapping through any descriptor (libcryptsetup
    // opens /proc/self/fd/N anew). F_SEAL_WRITE also waits for pinned pages and
    // fails with EBUSY when a page freshly written is still held elsewhere in
    // the kernel (seen once under load in CI); this memfd was never mapped, so
    // there is no older writable mapping for F_SEAL_WRITE to refuse.
    if (::fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        return io_error("sealing the header snapshot");
    }
    snap.fd = -1;
    return HeaderSnapshot(fd, std::move(headers));
}

HeaderSnapshot::~HeaderSnapshot() {
    if (fd_ >= 0) ::close(fd_);
}

HeaderSnapshot::HeaderSnapshot(HeaderSnapshot&& o) noexcept : fd_(std::exchange(o.fd_, -1)), bytes_(std::move(o.bytes_)) {}

std::string HeaderSnapshot::path() const { return "/proc/self/fd/" + std::to_string(fd_); }

}  // namespace cvmunlock::luks
