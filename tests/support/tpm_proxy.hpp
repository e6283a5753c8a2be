// A TCP proxy in front of swtpm that passes whole TPM commands through (and,
// if asked, alters a byte of the answers to one command) and,
// from the k-th command on, stops answering: it neither forwards nor answers
// that command and keeps the connection open, as a vTPM that hangs would. The
// swtpm TCTI also sets the locality on the control port (port + 1) when it
// starts: that channel is relayed as it is.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cvmunlock::testing {

class StallingTpmProxy {
public:
    // Forwards to 127.0.0.1:upstream_port; stall_before 1 stops at the first
    // command, 0 never stops (to count the commands of a run).
    StallingTpmProxy(int upstream_port, int stall_before);
    ~StallingTpmProxy();
    StallingTpmProxy(const StallingTpmProxy&) = delete;
    StallingTpmProxy& operator=(const StallingTpmProxy&) = delete;

    [[nodiscard]] bool ok() const noexcept { return listen_fd_ >= 0; }
    // "swtpm:host=127.0.0.1,port=P" of the proxy.
    [[nodiscard]] std::string tcti() const;
    // Command codes seen so far, the held one included.
    [[nodiscard]] std::vector<std::uint32_t> commands() const;
    [[nodiscard]] bool stalled() const noexcept { return stalled_; }
    // From now on flips the lowest bit of the byte `from_end` octets before the
    // end of every answer to `command_code` (a host altering the vTPM's replies).
    void alter_response(std::uint32_t command_code, std::size_t from_end);
    // How many answers were altered so far.
    [[nodiscard]] int altered() const noexcept { return altered_; }

private:
    void accept_loop();
    void serve(int client);
    void relay_control(int client);
    int upstream_port_;
    int stall_before_;
    int listen_fd_ = -1;
    int control_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<bool> stalled_{false};
    std::atomic<int> altered_{0};
    std::uint32_t alter_code_ = 0;
    std::size_t alter_from_end_ = 0;
    mutable std::mutex mutex_;
    std::vector<std::uint32_t> commands_;
    std::vector<int> fds_;
    std::vector<std::thread> threads_;
    std::thread acceptor_;
};

// Parses "swtpm:host=...,port=P" and returns P (0 if absent).
int tcti_port(const std::string& tcti);

}  // namespace cvmunlock::testing
