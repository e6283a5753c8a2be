// The journal and notify messages in systemd's native datagram protocols
// (systemd.journal-fields(7) "native protocol", sd_notify(3)), received on
// sockets the test binds where journald and the service manager would listen.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "journal/journal.hpp"
#include "temp_dir.hpp"

namespace cvmunlock::journal {
namespace {

// A bound Unix datagram socket (path, or abstract name after '@').
class Listener {
public:
    explicit Listener(const std::string& path) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.data(), path.size());
        socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
        if (path[0] == '@') {
            addr.sun_path[0] = '\0';
        } else {
            len += 1;
        }
        ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0;
        const int big = 8 << 20;
        (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
        timeval tv{5, 0};
        (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~Listener() {
        if (fd_ >= 0) ::close(fd_);
    }
    [[nodiscard]] bool ok() const { return ok_; }
    // One datagram's payload, and the descriptor it carried (-1 if none).
    std::pair<std::string, int> receive() const {
        std::string buf(1 << 16, '\0');
        iovec iov{buf.data(), buf.size()};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t n = ::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0) return {"", -1};
        buf.resize(static_cast<std::size_t>(n));
        int fd = -1;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
        }
        return {buf, fd};
    }

private:
    int fd_ = -1;
    bool ok_ = false;
};

std::string le64(std::uint64_t n) {
    std::string out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    return out;
}

TEST(Journal, EntryHasTheNativeProtocolFields) {
    const std::string e = entry(Priority::Notice, "refused", {{"volume", "root"}, {"pcr", "7"}});
    EXPECT_EQ(e, "MESSAGE=cvmunlock: refused\nPRIORITY=5\nSYSLOG_IDENTIFIER=cvmunlock\nCVMUNLOCK_PCR=7\n"
                 "CVMUNLOCK_VOLUME=root\n");
}

TEST(Journal, AValueWithANewlineIsLengthPrefixed) {
    std::string out;
    append_field(out, "MESSAGE", "two\nlines");
    EXPECT_EQ(out, "MESSAGE\n" + le64(9) + "two\nlines\n");
}

TEST(Journal, EntryArrivesAsOneDatagram) {
    testing::TempDir dir;
    const std::string path = (dir.path() / "journal.sock").string();
    Listener journald(path);
    ASSERT_TRUE(journald.ok());
    const std::string e = entry(Priority::Info, "unlocked", {{"phase", "unlock"}});
    ASSERT_TRUE(send_entry(path, e));
    const auto [payload, fd] = journald.receive();
    EXPECT_EQ(payload, e);
    EXPECT_EQ(fd, -1);
}

// Too large for a datagram: a sealed memfd, as journald takes it, with the same bytes.
TEST(Journal, ALargeEntryArrivesAsASealedMemfd) {
    testing::TempDir dir;
    const std::string path = (dir.path() / "journal.sock").string();
    Listener journald(path);
    ASSERT_TRUE(journald.ok());
    const std::string e = entry(Priority::Info, std::string(4 << 20, 'x'));
    ASSERT_TRUE(send_entry(path, e));
    const auto [payload, fd] = journald.receive();
    EXPECT_TRUE(payload.empty());
    ASSERT_GE(fd, 0);
    const int seals = ::fcntl(fd, F_GET_SEALS);
    EXPECT_NE(seals & F_SEAL_WRITE, 0);
    std::string content(e.size() + 1, '\0');
    EXPECT_EQ(::pread(fd, content.data(), content.size(), 0), static_cast<ssize_t>(e.size()));
    content.resize(e.size());
    EXPECT_TRUE(content == e);
    ::close(fd);
}

TEST(Journal, NoSocketIsNotAnError) {
    testing::TempDir dir;
    EXPECT_FALSE(send_entry((dir.path() / "absent.sock").string(), "MESSAGE=x\n"));
    log(Priority::Info, "no journald here is fine");  // must not throw or block
}

TEST(Journal, NotifyWritesToNotifySocketPathOrAbstractName) {
    testing::TempDir dir;
    const std::string path = (dir.path() / "notify.sock").string();
    const std::string abstract = "@cvmunlock-test-notify-" + std::to_string(::getpid());
    for (const auto& where : {path, abstract}) {
        Listener manager(where);
        ASSERT_TRUE(manager.ok()) << where;
        ::setenv("NOTIFY_SOCKET", where.c_str(), 1);
        notify("READY=1\nSTATUS=checked");
        EXPECT_EQ(manager.receive().first, "READY=1\nSTATUS=checked") << where;
    }
    ::unsetenv("NOTIFY_SOCKET");
    notify("READY=1");  // no manager: nothing to do
}

}  // namespace
}  // namespace cvmunlock::journal
