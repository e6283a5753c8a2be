#include "secret_input.hpp"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cvmunlock::cli {

namespace {
constexpr std::size_t kMaxSecret = 8192;  // cryptsetup's default keyfile-size limit is larger; ours is plenty

Result<SecretBuffer> read_fd(int fd, const std::string& what, bool stop_at_newline) {
    SecretBuffer buf(kMaxSecret + 1);
    std::size_t used = 0;
    while (used < buf.size()) {
        const ssize_t n = ::read(fd, buf.secret_bytes() + used, stop_at_newline ? 1 : buf.size() - used);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(ErrorCode::Internal, what + ": " + std::strerror(errno), errno);
        if (n == 0) break;
        if (stop_at_newline && buf.secret_bytes()[used] == '\n') break;
        used += static_cast<std::size_t>(n);
    }
    if (used > kMaxSecret) return fail(ErrorCode::InvalidInput, what + ": longer than " + std::to_string(kMaxSecret) + " bytes");
    buf.resize(used);
    return buf;
}
}  // namespace

Result<SecretBuffer> read_secret_file(const std::string& path) {
    if (path == "-") return read_fd(0, "standard input", false);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Internal, path + ": " + std::strerror(errno), errno);
    auto r = read_fd(fd, path, false);
    ::close(fd);
    if (r && r->empty()) return fail(ErrorCode::InvalidInput, path + ": empty key file");
    return r;
}

Result<SecretBuffer> read_pin_file(const std::string& path) {
    auto pin = read_secret_file(path);
    if (!pin) return pin;
    std::size_t n = 0;
    while (n < pin->size() && pin->secret_bytes()[n] != '\n') ++n;
    pin->resize(n);
    return pin;
}

Result<SecretBuffer> prompt_secret(const std::string& prompt) {
    const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0) return fail(ErrorCode::Unavailable, "no terminal to ask for " + prompt + " (use a file option)");
    termios saved{};
    const bool tty = ::tcgetattr(fd, &saved) == 0;
    if (tty) {
        termios quiet = saved;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    const std::string text = prompt + ": ";
    (void)!::write(fd, text.data(), text.size());
    auto r = read_fd(fd, "terminal", true);
    if (tty) ::tcsetattr(fd, TCSAFLUSH, &saved);
    (void)!::write(fd, "\n", 1);
    ::close(fd);
    return r;
}

}  // namespace cvmunlock::cli
