#include "secret_input.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace cvmunlock::cli {

namespace {
// cryptsetup's limits: a key file up to 8 MiB (--keyfile-size default), a typed passphrase up to 512
// characters (ours: 8 KiB, so that a pasted key fits).
constexpr std::size_t kMaxKeyFile = 8u << 20;
constexpr std::size_t kMaxTyped = 8192;

Result<SecretBuffer> read_fd(int fd, const std::string& what, bool stop_at_newline, std::size_t max) {
    SecretBuffer buf(std::min<std::size_t>(4096, max + 1));
    std::size_t used = 0;
    for (;;) {
        if (used == buf.size()) {
            if (buf.size() > max) break;
            // Grow by copying into a larger buffer; the old one is wiped when it goes.
            SecretBuffer bigger(std::min(buf.size() * 2, max + 1));
            std::memcpy(bigger.secret_bytes(), buf.secret_bytes(), used);
            buf = std::move(bigger);
        }
        const ssize_t n = ::read(fd, buf.secret_bytes() + used, stop_at_newline ? 1 : buf.size() - used);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(ErrorCode::Internal, what + ": " + std::strerror(errno), errno);
        if (n == 0) break;
        if (stop_at_newline && buf.secret_bytes()[used] == '\n') break;
        used += static_cast<std::size_t>(n);
    }
    if (used > max) return fail(ErrorCode::InvalidInput, what + ": longer than " + std::to_string(max) + " bytes");
    buf.resize(used);
    return buf;
}
}  // namespace

Result<SecretBuffer> read_secret_file(const std::string& path) {
    if (path == "-") return read_fd(0, "standard input", false, kMaxKeyFile);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Internal, path + ": " + std::strerror(errno), errno);
    auto r = read_fd(fd, path, false, kMaxKeyFile);
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

namespace {
bool executable(const char* path) { return ::access(path, X_OK) == 0; }

// Runs ARGV (an absolute path, no shell) with stdout into a pipe and reads its
// answer, up to its first newline. The answer never passes through argv.
Result<SecretBuffer> ask_helper(const std::vector<std::string>& argv) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return fail(ErrorCode::Internal, std::string("pipe: ") + std::strerror(errno), errno);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(out[0]);
        ::close(out[1]);
        return fail(ErrorCode::Internal, std::string("fork: ") + std::strerror(errno), errno);
    }
    if (pid == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(out[1]);
    auto answer = read_fd(out[0], argv[0], false, kMaxTyped + 1);
    ::close(out[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!answer) return answer;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return fail(ErrorCode::Unavailable, argv[0] + " did not answer (exit " +
                                                std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
    }
    std::size_t n = 0;
    while (n < answer->size() && answer->secret_bytes()[n] != '\n') ++n;
    answer->resize(n);
    return answer;
}

Result<SecretBuffer> ask_tty(const std::string& prompt) {
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
    auto r = read_fd(fd, "terminal", true, kMaxTyped);
    if (tty) ::tcsetattr(fd, TCSAFLUSH, &saved);
    (void)!::write(fd, "\n", 1);
    ::close(fd);
    return r;
}

Result<SecretBuffer> ask(const std::string& prompt, const std::string& id) {
    // systemd runs (also in its initrd): its agents answer (console, plymouth, remote).
    if (::access("/run/systemd/system", F_OK) == 0) {
        for (const char* tool : {"/usr/bin/systemd-ask-password", "/bin/systemd-ask-password"}) {
            if (executable(tool)) return ask_helper({tool, "--id=" + id, "--timeout=0", prompt + ":"});
        }
    }
    // An initramfs-tools boot: plymouth when its daemon runs, else cryptsetup's askpass.
    for (const char* tool : {"/usr/bin/plymouth", "/bin/plymouth"}) {
        if (executable(tool) && ask_helper({tool, "--ping"}).has_value()) {
            return ask_helper({tool, "ask-for-password", "--prompt=" + prompt});
        }
    }
    if (::access("/scripts/local-top", F_OK) == 0 && executable("/lib/cryptsetup/askpass")) {
        return ask_helper({"/lib/cryptsetup/askpass", prompt + ": "});
    }
    return ask_tty(prompt);
}
}  // namespace

Result<SecretBuffer> prompt_secret(const std::string& prompt, const std::string& id) {
    auto r = ask(prompt, id);
    if (r && r->empty()) return fail(ErrorCode::InvalidInput, "empty " + prompt + ": refused, not tried");
    return r;
}

}  // namespace cvmunlock::cli
