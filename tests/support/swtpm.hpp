// A private swtpm for one test: state in a temp dir, TCP on a free loopback port.
#pragma once

#include <sys/types.h>

#include <string>

namespace cvmunlock::testing {

class Swtpm {
public:
    Swtpm();  // starts swtpm on a fresh state; check ok() before use
    // Starts swtpm on a copy of the state in `initial_state` (e.g. committed test data).
    explicit Swtpm(const std::string& initial_state);
    ~Swtpm();
    Swtpm(const Swtpm&) = delete;
    Swtpm& operator=(const Swtpm&) = delete;

    [[nodiscard]] bool ok() const noexcept { return pid_ > 0; }
    [[nodiscard]] const std::string& error() const noexcept { return error_; }
    // "swtpm:host=127.0.0.1,port=P"
    [[nodiscard]] std::string tcti() const;
    [[nodiscard]] const std::string& state_dir() const noexcept { return dir_; }
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }

private:
    void launch();
    bool start(int port);
    pid_t pid_ = -1;
    int port_ = 0;
    std::string dir_;
    std::string error_;
};

}  // namespace cvmunlock::testing
