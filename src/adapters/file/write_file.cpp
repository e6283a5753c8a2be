#include "write_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace cvmunlock::file {

namespace {
std::unexpected<Error> sys_error(const std::string& what, const std::string& path) {
    const int e = errno;
    return fail(ErrorCode::Unavailable, what + " " + path + ": " + std::strerror(e), e);
}

class Fd {
public:
    explicit Fd(int fd) noexcept : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_;
};
}  // namespace

Result<void> write_atomic(const std::string& path, ByteView data, mode_t mode) {
    const std::filesystem::path target(path);
    const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return sys_error("creating directory", dir);
    const std::string tmp = path + ".tmp";
    {
        Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
        if (fd.get() < 0) return sys_error("creating", tmp);
        if (::fchmod(fd.get(), mode) != 0) return sys_error("setting the mode of", tmp);
        std::size_t done = 0;
        while (done < data.size()) {
            const ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                auto e = sys_error("writing", tmp);
                ::unlink(tmp.c_str());
                return e;
            }
            done += static_cast<std::size_t>(n);
        }
        if (::fsync(fd.get()) != 0) {
            auto e = sys_error("syncing", tmp);
            ::unlink(tmp.c_str());
            return e;
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        auto e = sys_error("renaming over", path);
        ::unlink(tmp.c_str());
        return e;
    }
    Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d.get() >= 0) ::fsync(d.get());
    return {};
}

}  // namespace cvmunlock::file
