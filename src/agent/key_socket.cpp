// `cvmunlock agent serve-key`: one connection of cvmunlock-key.socket
// (Accept=yes; the connection is stdin/stdout). systemd-cryptsetup connects
// from an abstract address ending in "/cryptsetup/<volume>" when a crypttab
// key-file names the socket; we unseal that volume's key and write it back.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "agent_internal.hpp"
#include "crypttab.hpp"
#include "file/read_file.hpp"
#include "journal/journal.hpp"
#include "unlock.hpp"

namespace cvmunlock::agent {

namespace {
std::optional<std::string> peer_volume(int fd) {
    sockaddr_un addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || len <= offsetof(sockaddr_un, sun_path)) {
        return std::nullopt;
    }
    return volume_from_peer(std::string(addr.sun_path, len - offsetof(sockaddr_un, sun_path)));
}

bool write_all(int fd, ByteView data) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

int refuse(const std::string& volume, const std::string& reason, const std::string& pcr = "") {
    std::map<std::string, std::string> fields{{"volume", volume}, {"phase", "key-socket"}, {"reason", reason}};
    if (!pcr.empty()) fields["pcr"] = pcr;
    journal::log(journal::Priority::Error, "volume " + volume + " refused: " + reason, fields);
    journal::kmsg(journal::Priority::Error, "volume " + volume + " refused: " + reason);
    return 1;
}
}  // namespace

int run_serve_key(const AgentOptions& o) {
    const auto start = std::chrono::steady_clock::now();
    auto volume = peer_volume(STDIN_FILENO);
    if (!volume) return refuse("?", "the key-socket client is not systemd-cryptsetup (no /cryptsetup/<volume> peer address)");
    auto crypttab = file::read_all(o.crypttab, 1u << 20);
    const std::string text = crypttab ? std::string(crypttab->begin(), crypttab->end()) : std::string();
    auto device = device_for_volume(text, *volume);
    if (!device) return refuse(*volume, "no crypttab entry and not a luks-<UUID> volume");

    engine::UnlockRequest rq;
    rq.device = *device;
    rq.tcti = tpm::resolve_tcti(o.tpm);
    rq.eventlog_path = o.eventlog;
    rq.return_passphrase = true;
    rq.pin = []() -> std::optional<SecretBuffer> { return std::nullopt; };  // PIN volumes use the token plugin path
    engine::UnlockReport rep;
    auto r = engine::unlock_volume(rq, rep);
    if (!r) {
        std::string pcr;
        for (const auto& c : rep.refusal.changes) {
            refuse(*volume, describe_change(c, rep.refusal.bank), std::to_string(c.pcr));
            pcr = std::to_string(c.pcr);
        }
        return refuse(*volume, r.error().message, pcr);
    }
    if (!write_all(STDOUT_FILENO, rep.passphrase.secret_view())) return refuse(*volume, "the key socket closed early");
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    journal::log(journal::Priority::Info,
                 "volume " + *volume + ": key unsealed from the vTPM and served (token " + std::to_string(rep.token) +
                     ", " + std::to_string(rep.tpm_command_codes.size()) + " TPM commands, " + std::to_string(ms) + " ms)",
                 {{"volume", *volume}, {"phase", "key-socket"}, {"duration_ms", std::to_string(ms)}});
    journal::kmsg(journal::Priority::Notice, "volume " + *volume + ": key unsealed from the vTPM");
    return 0;
}

}  // namespace cvmunlock::agent
