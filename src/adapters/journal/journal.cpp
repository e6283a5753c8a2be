#include "journal.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace cvmunlock::journal {

namespace {
// journald's native protocol socket (systemd.journal-fields(7), "Native protocol").
constexpr char kJournalSocket[] = "/run/systemd/journal/socket";

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// The address of a Unix socket path; '@' starts an abstract name (sd_notify(3)).
bool unix_address(std::string_view path, sockaddr_un& addr, socklen_t& len) {
    addr = sockaddr_un{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path || (path[0] != '/' && path[0] != '@')) return false;
    std::memcpy(addr.sun_path, path.data(), path.size());
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    if (path[0] == '@') {
        addr.sun_path[0] = '\0';
    } else {
        len += 1;  // with the NUL
    }
    return true;
}

// Sends `data` as one datagram to `path`; a datagram too large for the socket
// goes as a sealed memfd instead, as journald accepts it.
bool send_datagram(std::string_view path, std::string_view data, bool memfd_fallback) {
    sockaddr_un addr;
    socklen_t len = 0;
    if (!unix_address(path, addr, len)) return false;
    Fd sock{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    if (sock.fd < 0) return false;
    if (::sendto(sock.fd, data.data(), data.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), len) >= 0) {
        return true;
    }
    if (errno != EMSGSIZE && errno != ENOBUFS) return false;
    if (!memfd_fallback) return false;
    Fd mem{::memfd_create("cvmunlock-journal", MFD_CLOEXEC | MFD_ALLOW_SEALING)};
    if (mem.fd < 0 || ::write(mem.fd, data.data(), data.size()) != static_cast<ssize_t>(data.size()) ||
        ::fcntl(mem.fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
        return false;
    }
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_name = &addr;
    msg.msg_namelen = len;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &mem.fd, sizeof(int));
    return ::sendmsg(sock.fd, &msg, MSG_NOSIGNAL) >= 0;
}
}  // namespace

void append_field(std::string& out, std::string_view key, std::string_view value) {
    out.append(key);
    if (value.find('\n') == std::string_view::npos) {
        out.push_back('=');
        out.append(value);
        out.push_back('\n');
        return;
    }
    // KEY, newline, the value's length as a little-endian 64-bit number, the value, newline.
    out.push_back('\n');
    std::uint64_t n = value.size();
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    out.append(value);
    out.push_back('\n');
}

std::string entry(Priority priority, const std::string& message, const std::map<std::string, std::string>& fields) {
    std::string out;
    append_field(out, "MESSAGE", "cvmunlock: " + message);
    append_field(out, "PRIORITY", std::to_string(static_cast<int>(priority)));
    append_field(out, "SYSLOG_IDENTIFIER", "cvmunlock");
    for (const auto& [key, value] : fields) {
        std::string k = "CVMUNLOCK_";
        for (char c : key) k.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
        append_field(out, k, value);
    }
    return out;
}

bool send_entry(std::string_view socket_path, std::string_view entry_bytes) {
    return send_datagram(socket_path, entry_bytes, true);
}

void log(Priority priority, const std::string& message, const std::map<std::string, std::string>& fields) {
    (void)send_entry(kJournalSocket, entry(priority, message, fields));
}

void kmsg(Priority priority, const std::string& message) {
    const int fd = ::open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return;
    const std::string line = "<" + std::to_string(static_cast<int>(priority)) + ">cvmunlock: " + message + "\n";
    (void)!::write(fd, line.data(), line.size());
    ::close(fd);
}

void notify(const std::string& state) {
    const char* socket_path = std::getenv("NOTIFY_SOCKET");
    if (socket_path == nullptr) return;
    (void)send_datagram(socket_path, state, false);
}

}  // namespace cvmunlock::journal
