// A LUKS2 volume through libcryptsetup: keyslots, tokens, volume keys,
// activation. libcryptsetup return codes become Errors here, once.
#pragma once

#include <string>
#include <vector>

#include "cvmunlock/error.hpp"
#include "cvmunlock/secret.hpp"

struct crypt_device;

namespace cvmunlock::luks {

struct Pbkdf {
    std::string type = "pbkdf2";  // pbkdf2, argon2i, argon2id
    std::string hash = "sha256";
    std::uint32_t iterations = 0;     // pbkdf2 iterations or argon2 time cost; 0 = benchmark
    std::uint32_t memory_kb = 0;      // argon2 only
    std::uint32_t parallel = 0;       // argon2 only
    std::uint32_t time_ms = 0;        // benchmark target when iterations == 0
};

// The cheapest PBKDF2 libcryptsetup accepts (1000 iterations): for keyslots
// whose passphrase is a 256-bit random secret, stretching adds nothing
// (docs/token-format.md). Our sealed keyslot uses sha256; the recovery
// keyslot sha512, as systemd-cryptenroll --recovery-key makes it.
Pbkdf minimal_pbkdf2(const std::string& hash = "sha256");

// crypttab/cryptsetup activation options (crypttab(5): discard, readonly,
// same-cpu-crypt, submit-from-crypt-cpus, no-read-workqueue, no-write-workqueue).
struct ActivationOptions {
    bool allow_discards = false;
    bool readonly = false;
    bool same_cpu_crypt = false;
    bool submit_from_crypt_cpus = false;
    bool no_read_workqueue = false;
    bool no_write_workqueue = false;
};

struct TokenEntry {
    int id = -1;
    std::string type;
    std::string json;
};

// A command-line front end: libcryptsetup's own error messages go to stderr
// as "PREFIX<message>" (e.g. "cvmunlock: libcryptsetup: ..."), beside our
// message that names the file. Never for the token plugin, whose caller
// (cryptsetup, systemd-cryptsetup) routes them itself.
void route_library_messages(const char* prefix);

class Volume {
public:
    // Loads the LUKS2 header of `device` (refuses anything that is not LUKS2,
    // and a path that is not a block device or a regular file).
    static Result<Volume> open(const std::string& device);
    // Loads the header from `header` (e.g. /proc/self/fd/N of a sealed memfd) for data on `data_device`.
    static Result<Volume> open_detached(const std::string& header, const std::string& data_device);
    // Wraps a crypt_device owned by someone else (the token plugin's caller).
    static Volume borrow(crypt_device* cd) noexcept;
    ~Volume();
    Volume(Volume&& o) noexcept;
    Volume& operator=(Volume&&) = delete;
    Volume(const Volume&) = delete;

    crypt_device* get() noexcept { return cd_; }
    // The LUKS2 JSON metadata libcryptsetup has loaded (crypt_dump_json).
    Result<std::string> metadata_json();
    struct OpenedKeyslot {
        SecretBuffer volume_key;
        int keyslot = -1;  // the keyslot that opened
    };
    // The volume key from `keyslot`, or from whichever keyslot opens (-1).
    Result<OpenedKeyslot> volume_key(ByteView passphrase, int keyslot);
    // The LUKS2 UUID of the header libcryptsetup loaded.
    [[nodiscard]] std::string uuid() const;
    // Checks that libcryptsetup accepts these PBKDF parameters, changing nothing on disk.
    Result<void> check_pbkdf(const Pbkdf& pbkdf);
    // `preferred`: libcryptsetup tries this keyslot first (CRYPT_SLOT_PRIORITY_PREFER), so a
    // key-file unlock does not first run the Argon2 of a passphrase keyslot.
    Result<int> add_keyslot(const SecretBuffer& volume_key, ByteView passphrase, const Pbkdf& pbkdf,
                            bool preferred = false);
    Result<void> destroy_keyslot(int keyslot);
    Result<int> add_token(const std::string& json);
    // Replaces token `token` in place (one metadata write; libcryptsetup keeps both header copies in step).
    Result<void> replace_token(int token, const std::string& json);
    Result<void> remove_token(int token);
    Result<std::vector<TokenEntry>> tokens();
    Result<void> activate(const std::string& name, const SecretBuffer& volume_key, const ActivationOptions& options = {});
    // The device libcryptsetup reads the LUKS2 header from.
    [[nodiscard]] std::string metadata_device() const;

private:
    Volume(crypt_device* cd, bool owned) noexcept : cd_(cd), owned_(owned) {}
    crypt_device* cd_ = nullptr;
    bool owned_ = true;
};

}  // namespace cvmunlock::luks
