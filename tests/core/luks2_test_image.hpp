// Real LUKS2 images for the header tests: formatted at test time with the
// cryptsetup CLI on sparse files in a temporary directory (the file I/O the
// core never does). Test-only, header-only.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/hash.hpp"

namespace cvmunlock::testing {

inline int run_shell(const std::string& command) {
    const int status = std::system((command + " >/dev/null 2>&1").c_str());
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Exit status and stdout of `command`.
inline std::pair<int, std::string> run_shell_output(const std::string& command) {
    std::string out;
    FILE* pipe = popen((command + " 2>/dev/null").c_str(), "r");
    if (pipe == nullptr) return {-1, out};
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
    const int status = pclose(pipe);
    return {status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline bool have_cryptsetup() { return run_shell("cryptsetup --version") == 0; }

inline std::string shell_quote(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

inline Bytes read_prefix(const std::filesystem::path& path, std::size_t n) {
    std::ifstream in(path, std::ios::binary);
    Bytes out(n);
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(n));
    out.resize(static_cast<std::size_t>(in.gcount()));
    return out;
}

// Overwrites the start of `path` with `bytes`, keeping the rest of the file.
inline void write_prefix(const std::filesystem::path& path, ByteView bytes) {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Recomputes the SHA-256 checksum (LUKS2 spec 2.1: over hdr_size bytes with
// the 64-byte csum field at 448 zeroed) of the copy at `base`, after a test
// edited bytes the serializer would not write.
inline void fix_checksum(Bytes& bytes, std::size_t base, std::size_t hdr_size) {
    Bytes tmp(bytes.begin() + static_cast<std::ptrdiff_t>(base),
              bytes.begin() + static_cast<std::ptrdiff_t>(base + hdr_size));
    std::fill_n(tmp.begin() + 448, 64, std::uint8_t{0});
    const Bytes sum = *hash_bytes(HashAlg::Sha256, tmp);
    std::fill_n(bytes.begin() + static_cast<std::ptrdiff_t>(base + 448), 64, std::uint8_t{0});
    std::copy(sum.begin(), sum.end(), bytes.begin() + static_cast<std::ptrdiff_t>(base + 448));
}

// A temporary directory of formatted images, removed on destruction.
class Luks2Workspace {
public:
    static constexpr std::uintmax_t kImageSize = 32u << 20;  // data segment starts at 16 MiB
    static constexpr std::size_t kRegionSize = 16u << 20;    // 2 * hdr_size + keyslots area

    Luks2Workspace() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "cvmunlock-luks2-XXXXXX").string();
        if (mkdtemp(tmpl.data()) == nullptr) return;
        dir_ = tmpl;
        std::ofstream(dir_ / "key", std::ios::binary) << "cvmunlock test passphrase";
    }
    ~Luks2Workspace() {
        std::error_code ec;
        if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
    }
    Luks2Workspace(const Luks2Workspace&) = delete;
    Luks2Workspace& operator=(const Luks2Workspace&) = delete;

    [[nodiscard]] std::filesystem::path key_file() const { return dir_ / "key"; }
    [[nodiscard]] std::filesystem::path path(const std::string& name) const { return dir_ / (name + ".img"); }

    // luksFormat with fast PBKDF2 unless `extra` chooses another KDF; true on success.
    bool format(const std::string& name, const std::string& extra = "") const {
        if (dir_.empty()) return false;
        const auto img = path(name);
        { std::ofstream(img, std::ios::binary); }
        std::filesystem::resize_file(img, kImageSize);
        const std::string kdf = extra.find("--pbkdf ") == std::string::npos
                                    ? " --pbkdf pbkdf2 --pbkdf-force-iterations 1000"
                                    : "";
        return run_shell("cryptsetup luksFormat --type luks2 --batch-mode" + kdf + " --key-file " +
                         shell_quote(key_file()) + " " + extra + " " + shell_quote(img)) == 0;
    }

    // The header region `cvmunlock unlock` reads: both copies and the keyslots area.
    [[nodiscard]] Bytes region(const std::string& name) const { return read_prefix(path(name), kRegionSize); }

    // A copy of image `from` with its first bytes replaced by `header`.
    std::filesystem::path patched_copy(const std::string& from, const std::string& to, ByteView header) const {
        const auto dst = path(to);
        std::filesystem::copy_file(path(from), dst, std::filesystem::copy_options::overwrite_existing);
        write_prefix(dst, header);
        return dst;
    }

    [[nodiscard]] int dump(const std::filesystem::path& img) const {
        return run_shell("cryptsetup luksDump " + shell_quote(img));
    }
    [[nodiscard]] int test_passphrase(const std::filesystem::path& img) const {
        return run_shell("cryptsetup open --test-passphrase --key-file " + shell_quote(key_file()) + " " +
                         shell_quote(img));
    }

private:
    std::filesystem::path dir_;
};

}  // namespace cvmunlock::testing
