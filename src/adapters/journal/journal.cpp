#include "journal.hpp"

#include <fcntl.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cctype>
#include <vector>

namespace cvmunlock::journal {

void log(Priority priority, const std::string& message, const std::map<std::string, std::string>& fields) {
    std::vector<std::string> entries;
    entries.push_back("MESSAGE=cvmunlock: " + message);
    entries.push_back("PRIORITY=" + std::to_string(static_cast<int>(priority)));
    entries.push_back("SYSLOG_IDENTIFIER=cvmunlock");
    for (const auto& [key, value] : fields) {
        std::string k = "CVMUNLOCK_";
        for (char c : key) k.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
        entries.push_back(k + "=" + value);
    }
    std::vector<iovec> iov;
    for (auto& e : entries) iov.push_back({e.data(), e.size()});
    sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

void kmsg(Priority priority, const std::string& message) {
    const int fd = ::open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return;
    const std::string line = "<" + std::to_string(static_cast<int>(priority)) + ">cvmunlock: " + message + "\n";
    (void)!::write(fd, line.data(), line.size());
    ::close(fd);
}

void notify(const std::string& state) { sd_notify(0, state.c_str()); }

}  // namespace cvmunlock::journal
