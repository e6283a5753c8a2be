#include "volume.hpp"

#include <libcryptsetup.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <cstring>
#include <utility>

#include "file/read_file.hpp"

namespace cvmunlock::luks {

namespace {
std::unexpected<Error> crypt_error(const std::string& what, int r) {
    const int err = r < 0 ? -r : r;
    ErrorCode code = ErrorCode::Internal;
    if (err == EPERM) code = ErrorCode::PolicyRefused;  // wrong passphrase / no keyslot opens
    if (err == ENOENT) code = ErrorCode::NotFound;
    if (err == EINVAL) code = ErrorCode::InvalidInput;
    if (err == ENODEV || err == ENXIO) code = ErrorCode::Unavailable;
    // EPERM is libcryptsetup's "this passphrase opens nothing": its errno text says nothing more.
    if (err == EPERM) return fail(code, what, err);
    return fail(code, what + ": " + std::strerror(err), err);
}

Result<crypt_device*> load(crypt_device* cd, const std::string& what) {
    const int r = crypt_load(cd, CRYPT_LUKS2, nullptr);
    if (r < 0) {
        crypt_free(cd);
        auto e = crypt_error(what + " is not a readable LUKS2 volume", r);
        e.error().code = ErrorCode::InvalidInput;
        return e;
    }
    return cd;
}
}  // namespace

Pbkdf minimal_pbkdf2(const std::string& hash) {
    Pbkdf p;
    p.type = "pbkdf2";
    p.hash = hash;
    p.iterations = 1000;  // libcryptsetup's minimum for PBKDF2
    return p;
}

void route_library_messages(const char* prefix) {
    crypt_set_log_callback(
        nullptr,
        [](int level, const char* msg, void* usrptr) {
            if (level != CRYPT_LOG_ERROR || msg == nullptr) return;
            std::string text(msg);
            while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
            if (!text.empty()) std::fprintf(stderr, "%s%s\n", static_cast<const char*>(usrptr), text.c_str());
        },
        const_cast<char*>(prefix));
}

Result<Volume> Volume::open(const std::string& device) {
    auto fd = file::open_input(device, true);
    if (!fd) return std::unexpected(fd.error());
    ::close(*fd);
    crypt_device* cd = nullptr;
    if (int r = crypt_init(&cd, device.c_str()); r < 0) return crypt_error("cannot open " + device, r);
    auto loaded = load(cd, device);
    if (!loaded) return std::unexpected(loaded.error());
    return Volume(*loaded, true);
}

Result<Volume> Volume::open_detached(const std::string& header, const std::string& data_device) {
    crypt_device* cd = nullptr;
    if (int r = crypt_init_data_device(&cd, header.c_str(), data_device.c_str()); r < 0) {
        return crypt_error("cannot open " + data_device + " with a detached header", r);
    }
    auto loaded = load(cd, "the header snapshot of " + data_device);
    if (!loaded) return std::unexpected(loaded.error());
    return Volume(*loaded, true);
}

Volume Volume::borrow(crypt_device* cd) noexcept { return Volume(cd, false); }

Volume::~Volume() {
    if (owned_ && cd_ != nullptr) crypt_free(cd_);
}

Volume::Volume(Volume&& o) noexcept : cd_(std::exchange(o.cd_, nullptr)), owned_(o.owned_) {}

Result<std::string> Volume::metadata_json() {
    const char* json = nullptr;
    if (int r = crypt_dump_json(cd_, &json, 0); r < 0 || json == nullptr) return crypt_error("reading the LUKS2 metadata", r);
    return std::string(json);
}

Result<Volume::OpenedKeyslot> Volume::volume_key(ByteView passphrase, int keyslot) {
    const int size = crypt_get_volume_key_size(cd_);
    if (size <= 0) return fail(ErrorCode::InvalidInput, "the volume has no volume key size");
    OpenedKeyslot out{SecretBuffer(static_cast<std::size_t>(size)), -1};
    size_t key_size = out.volume_key.size();
    const int r = crypt_volume_key_get(cd_, keyslot, reinterpret_cast<char*>(out.volume_key.secret_bytes()), &key_size,
                                       reinterpret_cast<const char*>(passphrase.data()), passphrase.size());
    if (r < 0) return crypt_error(keyslot < 0 ? "no keyslot opens with this key" : "keyslot " + std::to_string(keyslot) + " does not open", r);
    out.volume_key.resize(key_size);
    out.keyslot = r;  // crypt_volume_key_get returns the keyslot that opened
    return out;
}

namespace {
crypt_pbkdf_type to_crypt(const Pbkdf& pbkdf) {
    crypt_pbkdf_type t{};
    t.type = pbkdf.type.c_str();
    t.hash = pbkdf.hash.c_str();
    t.iterations = pbkdf.iterations;
    t.max_memory_kb = pbkdf.memory_kb;
    t.parallel_threads = pbkdf.parallel;
    t.time_ms = pbkdf.time_ms;
    t.flags = pbkdf.iterations != 0 ? CRYPT_PBKDF_NO_BENCHMARK : 0;
    return t;
}
}  // namespace

Result<void> Volume::check_pbkdf(const Pbkdf& pbkdf) {
    const crypt_pbkdf_type t = to_crypt(pbkdf);
    if (int r = crypt_set_pbkdf_type(cd_, &t); r < 0) return crypt_error("PBKDF " + pbkdf.type + " parameters not accepted", r);
    return {};
}

std::string Volume::uuid() const {
    const char* u = crypt_get_uuid(cd_);
    return u != nullptr ? u : "";
}

Result<int> Volume::add_keyslot(const SecretBuffer& volume_key, ByteView passphrase, const Pbkdf& pbkdf, bool preferred) {
    if (auto r = check_pbkdf(pbkdf); !r) return std::unexpected(r.error());
    const int slot = crypt_keyslot_add_by_volume_key(cd_, CRYPT_ANY_SLOT, reinterpret_cast<const char*>(volume_key.secret_bytes()),
                                                     volume_key.size(), reinterpret_cast<const char*>(passphrase.data()),
                                                     passphrase.size());
    if (slot < 0) return crypt_error("adding a keyslot", slot);
    if (preferred) {
        if (int r = crypt_keyslot_set_priority(cd_, slot, CRYPT_SLOT_PRIORITY_PREFER); r < 0) {
            return crypt_error("setting keyslot " + std::to_string(slot) + " priority", r);
        }
    }
    return slot;
}

Result<void> Volume::destroy_keyslot(int keyslot) {
    if (int r = crypt_keyslot_destroy(cd_, keyslot); r < 0) return crypt_error("removing keyslot " + std::to_string(keyslot), r);
    return {};
}

Result<int> Volume::add_token(const std::string& json) {
    const int id = crypt_token_json_set(cd_, CRYPT_ANY_TOKEN, json.c_str());
    if (id < 0) return crypt_error("adding the token", id);
    return id;
}

Result<void> Volume::replace_token(int token, const std::string& json) {
    const int id = crypt_token_json_set(cd_, token, json.c_str());
    if (id < 0) return crypt_error("rewriting token " + std::to_string(token), id);
    return {};
}

Result<void> Volume::remove_token(int token) {
    if (int r = crypt_token_json_set(cd_, token, nullptr); r < 0) return crypt_error("removing token " + std::to_string(token), r);
    return {};
}

Result<std::vector<TokenEntry>> Volume::tokens() {
    std::vector<TokenEntry> out;
    const int max = crypt_token_max(CRYPT_LUKS2);
    for (int id = 0; id < max; ++id) {
        const char* type = nullptr;
        const crypt_token_info info = crypt_token_status(cd_, id, &type);
        if (info == CRYPT_TOKEN_INACTIVE || info == CRYPT_TOKEN_INVALID || type == nullptr) continue;
        const char* json = nullptr;
        if (crypt_token_json_get(cd_, id, &json) < 0 || json == nullptr) continue;
        out.push_back({id, type, json});
    }
    return out;
}

Result<void> Volume::activate(const std::string& name, const SecretBuffer& volume_key, const ActivationOptions& o) {
    std::uint32_t flags = 0;
    if (o.allow_discards) flags |= CRYPT_ACTIVATE_ALLOW_DISCARDS;
    if (o.readonly) flags |= CRYPT_ACTIVATE_READONLY;
    if (o.same_cpu_crypt) flags |= CRYPT_ACTIVATE_SAME_CPU_CRYPT;
    if (o.submit_from_crypt_cpus) flags |= CRYPT_ACTIVATE_SUBMIT_FROM_CRYPT_CPUS;
    if (o.no_read_workqueue) flags |= CRYPT_ACTIVATE_NO_READ_WORKQUEUE;
    if (o.no_write_workqueue) flags |= CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE;
    const int r = crypt_activate_by_volume_key(cd_, name.c_str(), reinterpret_cast<const char*>(volume_key.secret_bytes()),
                                               volume_key.size(), flags);
    if (r < 0) return crypt_error("activating " + name, r);
    return {};
}

std::string Volume::metadata_device() const {
    const char* dev = crypt_get_metadata_device_name(cd_);
    if (dev == nullptr) dev = crypt_get_device_name(cd_);
    return dev != nullptr ? dev : "";
}

}  // namespace cvmunlock::luks
