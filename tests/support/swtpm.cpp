#include "swtpm.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

extern char** environ;

namespace cvmunlock::testing {

namespace {
// A port the kernel considers free now, with port+1 free too (swtpm's control channel).
int free_port_pair() {
    for (int attempt = 0; attempt < 50; ++attempt) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            ::close(fd);
            continue;
        }
        const int port = ntohs(a.sin_port);
        ::close(fd);
        if (port >= 65535) continue;
        int fd2 = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in b = a;
        b.sin_port = htons(static_cast<std::uint16_t>(port + 1));
        const bool free2 = ::bind(fd2, reinterpret_cast<sockaddr*>(&b), sizeof b) == 0;
        ::close(fd2);
        if (free2) return port;
    }
    return 0;
}

bool can_connect(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}
}  // namespace

Swtpm::Swtpm() {
    char tpl[] = "/tmp/cvmunlock-swtpm-XXXXXX";
    if (::mkdtemp(tpl) == nullptr) {
        error_ = "mkdtemp failed";
        return;
    }
    dir_ = tpl;
    launch();
}

Swtpm::Swtpm(const std::string& initial_state) {
    char tpl[] = "/tmp/cvmunlock-swtpm-XXXXXX";
    if (::mkdtemp(tpl) == nullptr) {
        error_ = "mkdtemp failed";
        return;
    }
    dir_ = tpl;
    std::error_code ec;
    std::filesystem::copy(initial_state, dir_, std::filesystem::copy_options::recursive, ec);
    if (ec) {
        error_ = "cannot copy the swtpm state " + initial_state + ": " + ec.message();
        return;
    }
    launch();
}

void Swtpm::launch() {
    for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) {
        const int port = free_port_pair();
        if (port != 0 && start(port)) return;
    }
    if (error_.empty()) error_ = "swtpm did not start";
}

bool Swtpm::start(int port) {
    const std::string server = "type=tcp,port=" + std::to_string(port) + ",bindaddr=127.0.0.1";
    const std::string ctrl = "type=tcp,port=" + std::to_string(port + 1) + ",bindaddr=127.0.0.1";
    const std::string state = "dir=" + dir_;
    std::vector<std::string> args = {"swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl,
                                     "--flags", "not-need-init,startup-clear", "--tpmstate", state};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    if (posix_spawnp(&pid, "swtpm", nullptr, nullptr, argv.data(), environ) != 0) {
        error_ = "cannot run swtpm (is it installed?)";
        return false;
    }
    for (int i = 0; i < 100; ++i) {
        if (can_connect(port)) {
            pid_ = pid;
            port_ = port;
            return true;
        }
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) return false;  // exited: port taken, try another
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return false;
}

Swtpm::~Swtpm() {
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
}

std::string Swtpm::tcti() const { return "swtpm:host=127.0.0.1,port=" + std::to_string(port_); }

}  // namespace cvmunlock::testing
