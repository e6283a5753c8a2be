#include "tpm_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>

namespace cvmunlock::testing {

namespace {
// TPM 2.0 Part 1, 18.2: tag(2) size(4) code(4).
constexpr std::size_t kHeader = 10;
constexpr std::uint32_t kMaxMessage = 1u << 16;

bool read_exact(int fd, std::uint8_t* p, std::size_t n, const std::atomic<bool>& stop) {
    std::size_t done = 0;
    while (done < n && !stop) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, 100) <= 0) continue;
        const ssize_t r = ::recv(fd, p + done, n - done, 0);
        if (r <= 0) return false;
        done += static_cast<std::size_t>(r);
    }
    return done == n;
}

bool write_all(int fd, const std::uint8_t* p, std::size_t n) {
    while (n > 0) {
        const ssize_t r = ::send(fd, p, n, MSG_NOSIGNAL);
        if (r <= 0) return false;
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

std::uint32_t be32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

// One whole TPM message (command or response) from fd.
bool read_message(int fd, std::vector<std::uint8_t>& out, const std::atomic<bool>& stop) {
    out.resize(kHeader);
    if (!read_exact(fd, out.data(), kHeader, stop)) return false;
    const std::uint32_t size = be32(out.data() + 2);
    if (size < kHeader || size > kMaxMessage) return false;
    out.resize(size);
    return read_exact(fd, out.data() + kHeader, size - kHeader, stop);
}

// A listening loopback socket on `port` (0: any); -1 on failure.
int listen_loopback(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

int bound_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    return ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0 ? ntohs(a.sin_port) : 0;
}

// Closes both ends when a relay ends: swtpm serves one connection at a time.
struct Pair {
    int client, upstream;
    ~Pair() {
        ::shutdown(client, SHUT_RDWR);
        if (upstream >= 0) ::close(upstream);
    }
};

int connect_loopback(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}
}  // namespace

int tcti_port(const std::string& tcti) {
    const auto at = tcti.find("port=");
    return at == std::string::npos ? 0 : std::stoi(tcti.substr(at + 5));
}

StallingTpmProxy::StallingTpmProxy(int upstream_port, int stall_before)
    : upstream_port_(upstream_port), stall_before_(stall_before) {
    // A port pair: commands on P, the control channel on P + 1.
    for (int attempt = 0; attempt < 50 && listen_fd_ < 0; ++attempt) {
        const int fd = listen_loopback(0);
        const int port = fd >= 0 ? bound_port(fd) : 0;
        const int control = port > 0 && port < 65535 ? listen_loopback(port + 1) : -1;
        if (control < 0) {
            if (fd >= 0) ::close(fd);
            continue;
        }
        listen_fd_ = fd;
        control_fd_ = control;
        port_ = port;
    }
    if (listen_fd_ >= 0) acceptor_ = std::thread([this] { accept_loop(); });
}

StallingTpmProxy::~StallingTpmProxy() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& t : threads_) t.join();
    std::lock_guard lock(mutex_);
    for (int fd : fds_) ::close(fd);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (control_fd_ >= 0) ::close(control_fd_);
}

std::string StallingTpmProxy::tcti() const { return "swtpm:host=127.0.0.1,port=" + std::to_string(port_); }

void StallingTpmProxy::alter_response(std::uint32_t command_code, std::size_t from_end) {
    std::lock_guard lock(mutex_);
    alter_code_ = command_code;
    alter_from_end_ = from_end;
}

std::vector<std::uint32_t> StallingTpmProxy::commands() const {
    std::lock_guard lock(mutex_);
    return commands_;
}

void StallingTpmProxy::accept_loop() {
    while (!stop_) {
        pollfd pfds[2] = {{listen_fd_, POLLIN, 0}, {control_fd_, POLLIN, 0}};
        if (::poll(pfds, 2, 100) <= 0) continue;
        for (const pollfd& p : pfds) {
            if ((p.revents & POLLIN) == 0) continue;
            const int client = ::accept(p.fd, nullptr, nullptr);
            if (client < 0) continue;
            std::lock_guard lock(mutex_);
            fds_.push_back(client);
            if (p.fd == listen_fd_) {
                threads_.emplace_back([this, client] { serve(client); });
            } else {
                threads_.emplace_back([this, client] { relay_control(client); });
            }
        }
    }
}

void StallingTpmProxy::relay_control(int client) {
    Pair pair{client, connect_loopback(upstream_port_ + 1)};
    const int upstream = pair.upstream;
    if (upstream < 0) return;
    std::uint8_t buf[4096];
    while (!stop_) {
        pollfd pfds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
        if (::poll(pfds, 2, 100) <= 0) continue;
        for (int i = 0; i < 2; ++i) {
            if ((pfds[i].revents & (POLLIN | POLLHUP)) == 0) continue;
            const ssize_t n = ::recv(pfds[i].fd, buf, sizeof buf, 0);
            if (n <= 0 || !write_all(pfds[1 - i].fd, buf, static_cast<std::size_t>(n))) return;
        }
    }
}

void StallingTpmProxy::serve(int client) {
    Pair pair{client, connect_loopback(upstream_port_)};
    const int upstream = pair.upstream;
    if (upstream < 0) return;
    std::vector<std::uint8_t> message;
    while (!stop_ && read_message(client, message, stop_)) {
        int seen = 0;
        {
            std::lock_guard lock(mutex_);
            commands_.push_back(be32(message.data() + 6));
            seen = static_cast<int>(commands_.size());
        }
        if (stall_before_ > 0 && seen >= stall_before_) {
            // Hung: hold the command, answer nothing, keep the connection.
            stalled_ = true;
            while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(50));
            return;
        }
        const std::uint32_t code = be32(message.data() + 6);
        if (!write_all(upstream, message.data(), message.size()) || !read_message(upstream, message, stop_)) return;
        {
            std::lock_guard lock(mutex_);
            if (alter_code_ != 0 && code == alter_code_ && alter_from_end_ < message.size() - kHeader) {
                message[message.size() - 1 - alter_from_end_] ^= 0x01;
                ++altered_;
            }
        }
        if (!write_all(client, message.data(), message.size())) return;
    }
}

}  // namespace cvmunlock::testing
