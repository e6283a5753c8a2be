#include "read_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace cvmunlock::file {

namespace {
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};
}  // namespace

Result<int> open_input(const std::string& path, bool allow_block_device) {
    Fd f;
    f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f.fd < 0) {
        const int err = errno;
        const ErrorCode code = (err == ENOENT || err == ENODEV || err == ENXIO) ? ErrorCode::Unavailable
                                                                                 : ErrorCode::Internal;
        return fail(code, path + ": " + std::strerror(err), err);
    }
    struct stat st {};
    if (::fstat(f.fd, &st) != 0) {
        const int err = errno;
        return fail(ErrorCode::Internal, path + ": " + std::strerror(err), err);
    }
    if (!S_ISREG(st.st_mode) && !(allow_block_device && S_ISBLK(st.st_mode))) {
        const char* kind = S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISDIR(st.st_mode) ? "a directory"
                           : S_ISCHR(st.st_mode) ? "a character device" : S_ISSOCK(st.st_mode) ? "a socket"
                           : S_ISBLK(st.st_mode) ? "a block device" : "not a regular file";
        return fail(ErrorCode::InvalidInput, path + ": is " + std::string(kind) + ", not " +
                                                 (allow_block_device ? "a block device or a regular file"
                                                                     : "a regular file"));
    }
    const int flags = ::fcntl(f.fd, F_GETFL);
    if (flags < 0 || ::fcntl(f.fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        const int err = errno;
        return fail(ErrorCode::Internal, path + ": " + std::strerror(err), err);
    }
    return std::exchange(f.fd, -1);
}

Result<Bytes> read_all(const std::string& path, std::size_t max_size) {
    auto fd = open_input(path, false);
    if (!fd) return std::unexpected(fd.error());
    Fd f;
    f.fd = *fd;
    Bytes out;
    std::size_t used = 0;
    for (;;) {
        if (out.size() - used < 65536) out.resize(used + 65536);
        const ssize_t n = ::read(f.fd, out.data() + used, out.size() - used);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            return fail(ErrorCode::Internal, path + ": read failed: " + std::strerror(err), err);
        }
        if (n == 0) break;
        used += static_cast<std::size_t>(n);
        if (used > max_size) {
            return fail(ErrorCode::InvalidInput, path + ": larger than " + std::to_string(max_size) + " bytes");
        }
    }
    out.resize(used);
    return out;
}

}  // namespace cvmunlock::file
