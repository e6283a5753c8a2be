// The key-socket path as systemd-cryptsetup uses it: a client bound to an
// abstract address ".../cryptsetup/<volume>" connects; `cvmunlock agent
// serve-key` (stdin/stdout = the connection, as with Accept=yes) writes the key.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "process.hpp"
#include "swtpm.hpp"

extern char** environ;

namespace {

using cvmunlock::testing::run_process;

sockaddr_un abstract_addr(const std::string& name, socklen_t& len) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path + 1, name.data(), name.size());
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    return a;
}

// Connects as systemd-cryptsetup would for `volume`, runs serve-key on the accepted
// connection, returns what the client read and the agent's exit code.
std::pair<std::string, int> request_key(const std::string& volume, const std::string& crypttab, const std::string& tcti) {
    int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t len = 0;
    const std::string server_name = "cvmunlock-test-" + std::to_string(::getpid());
    sockaddr_un srv = abstract_addr(server_name, len);
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&srv), len), 0);
    ::listen(listener, 1);
    int client = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t clen = 0;
    sockaddr_un me = abstract_addr("7f3e2a9c/cryptsetup/" + volume, clen);
    EXPECT_EQ(::bind(client, reinterpret_cast<sockaddr*>(&me), clen), 0);
    EXPECT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&srv), len), 0);
    int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, conn, 0);
    posix_spawn_file_actions_adddup2(&fa, conn, 1);
    std::string cli = CVMUNLOCK_CLI;
    std::vector<std::string> args = {cli, "agent", "serve-key", "--tpm", tcti, "--crypttab", crypttab};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    posix_spawn(&pid, cli.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(conn);
    std::string got;
    char buf[256];
    ssize_t n = 0;
    while ((n = ::read(client, buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(client);
    ::close(listener);
    return {got, WIFEXITED(status) ? WEXITSTATUS(status) : 128};
}

TEST(KeySocket, ServesTheKeyThatOpensTheVolumeAndRefusesAfterAChange) {
    cvmunlock::testing::Swtpm tpm;
    ASSERT_TRUE(tpm.ok()) << tpm.error();
    const std::string dir = tpm.state_dir() + "/ks";
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/K") << "user passphrase";
    ASSERT_EQ(run_process({"truncate", "-s", "32M", dir + "/img"}).exit_code, 0);
    ASSERT_EQ(run_process({"cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode", "--pbkdf", "pbkdf2",
                           "--pbkdf-force-iterations", "1000", "--key-file", dir + "/K", dir + "/img"}).exit_code, 0);
    auto r = run_process({CVMUNLOCK_CLI, "enroll", dir + "/img", "--tpm", tpm.tcti(), "--pcrs", "7", "--unlock-key-file", dir + "/K"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::ofstream(dir + "/crypttab") << "root " << dir << "/img /run/cvmunlock/key.sock luks\n";

    auto [key, rc] = request_key("root", dir + "/crypttab", tpm.tcti());
    ASSERT_EQ(rc, 0);
    ASSERT_FALSE(key.empty());
    std::ofstream(dir + "/served", std::ios::binary) << key;
    EXPECT_EQ(run_process({"cryptsetup", "open", "--test-passphrase", "--key-file", dir + "/served", dir + "/img"}).exit_code, 0)
        << "the served key must open the volume with stock cryptsetup";

    auto [none, rc2] = request_key("unknown", dir + "/crypttab", tpm.tcti());
    EXPECT_NE(rc2, 0);
    EXPECT_TRUE(none.empty());

    ASSERT_EQ(run_process({"tpm2_pcrextend", "-T", tpm.tcti(), "7:sha256=" + std::string(64, 'a')}).exit_code, 0);
    auto [refused, rc3] = request_key("root", dir + "/crypttab", tpm.tcti());
    EXPECT_NE(rc3, 0);
    EXPECT_TRUE(refused.empty());  // nothing written: systemd-cryptsetup falls back to its prompt
}

}  // namespace
