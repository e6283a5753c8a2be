#include "read_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cvmunlock::file {

namespace {
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};
}  // namespace

Result<Bytes> read_all(const std::string& path, std::size_t max_size) {
    Fd f;
    f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f.fd < 0) {
        const int err = errno;
        const ErrorCode code = (err == ENOENT || err == ENODEV || err == ENXIO) ? ErrorCode::Unavailable
                                                                                 : ErrorCode::Internal;
        return fail(code, path + ": " + std::strerror(err), err);
    }
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
