// libcryptsetup token plugin ABI glue (CRYPTSETUP_TOKEN_1.0) for the
// "cvmunlock" token type. The logic lives in engine/token_open.cpp.
#include <libcryptsetup.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cvmunlock/token.hpp"
#include "token_open.hpp"

#ifndef CVMUNLOCK_VERSION
#define CVMUNLOCK_VERSION "0"
#endif

namespace {
void verdict(crypt_device* cd, int level, const std::string& text) {
    const std::string line = "cvmunlock: " + text + "\n";
    crypt_log(cd, level, line.c_str());
}

int open_common(crypt_device* cd, int token, const char* pin, size_t pin_size, char** buffer, size_t* buffer_len) {
    if (cd == nullptr || buffer == nullptr || buffer_len == nullptr) return -EINVAL;
    // tpm2-tss logs TPM errors we handle to stderr; quiet unless asked for.
    setenv("TSS2_LOG", "all+NONE", 0);
    std::optional<cvmunlock::SecretBuffer> pin_buf;
    if (pin != nullptr) {
        pin_buf = cvmunlock::SecretBuffer::copy_of(
            cvmunlock::ByteView(reinterpret_cast<const std::uint8_t*>(pin), pin_size));
    }
    auto r = cvmunlock::engine::open_token(cd, token, pin_buf);
    if (r.err != 0) {
        // A final refusal ends libcryptsetup's token loop: the caller asks for the passphrase.
        const int level = r.final ? CRYPT_LOG_ERROR : r.err == -ENOANO ? CRYPT_LOG_NORMAL : CRYPT_LOG_VERBOSE;
        verdict(cd, level, "token " + std::to_string(token) + (r.final ? " refused: " : ": ") + r.message);
        return r.err;
    }
    char* out = static_cast<char*>(std::malloc(r.passphrase.size()));
    if (out == nullptr) return -ENOMEM;
    std::memcpy(out, r.passphrase.secret_bytes(), r.passphrase.size());
    *buffer = out;
    *buffer_len = r.passphrase.size();
    verdict(cd, CRYPT_LOG_VERBOSE, r.message);
    return 0;
}
}  // namespace

extern "C" {

__attribute__((visibility("default"))) int cryptsetup_token_open_pin(crypt_device* cd, int token, const char* pin,
                                                                     size_t pin_size, char** buffer,
                                                                     size_t* buffer_len, void* /*usrptr*/) {
    return open_common(cd, token, pin, pin_size, buffer, buffer_len);
}

__attribute__((visibility("default"))) int cryptsetup_token_open(crypt_device* cd, int token, char** buffer,
                                                                 size_t* buffer_len, void* /*usrptr*/) {
    return open_common(cd, token, nullptr, 0, buffer, buffer_len);
}

__attribute__((visibility("default"))) void cryptsetup_token_buffer_free(void* buffer, size_t buffer_len) {
    if (buffer == nullptr) return;
    cvmunlock::wipe(buffer, buffer_len);
    std::free(buffer);
}

__attribute__((visibility("default"))) int cryptsetup_token_validate(crypt_device* cd, const char* json) {
    std::string why;
    const int r = cvmunlock::engine::validate_token_json(json, why);
    if (r != 0) verdict(cd, CRYPT_LOG_ERROR, "invalid token: " + why);
    return r;
}

__attribute__((visibility("default"))) void cryptsetup_token_dump(crypt_device* cd, const char* json) {
    auto t = cvmunlock::token_from_json(std::string_view(json == nullptr ? "" : json));
    if (!t) {
        crypt_log(cd, CRYPT_LOG_NORMAL, "\tcvmunlock:  invalid token\n");
        return;
    }
    std::string pcrs;
    for (auto p : t->pcrs) pcrs += (pcrs.empty() ? "" : ",") + std::to_string(p);
    std::string line = "\tcvmunlock PCRs: " + (pcrs.empty() ? std::string("none") : pcrs) + " (" +
                       std::string(cvmunlock::hash_alg_name(t->pcr_bank)) + ")";
    if (t->lock_pcr) line += ", lock PCR " + std::to_string(*t->lock_pcr);
    line += "\n\tcvmunlock PIN:  " + std::string(t->pin ? "yes" : "no") + "\n\tcvmunlock SRK:  " +
            cvmunlock::to_hex(t->srk_name) + "\n";
    crypt_log(cd, CRYPT_LOG_NORMAL, line.c_str());
}

__attribute__((visibility("default"))) const char* cryptsetup_token_version(void) { return CVMUNLOCK_VERSION; }

}  // extern "C"
