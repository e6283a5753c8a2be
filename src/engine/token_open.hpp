// The logic behind the libcryptsetup token plugin: validate the in-memory
// metadata of the crypt_device we are handed, unseal, check the volume-key pin,
// and map every failure to the errno systemd-cryptsetup understands.
#pragma once

#include <optional>
#include <string>

#include "cvmunlock/secret.hpp"

struct crypt_device;

namespace cvmunlock::engine {

struct TokenOpenResult {
    int err = 0;               // 0, or -EAGAIN / -ENOANO / -EPERM / -ENOENT
    SecretBuffer passphrase;   // set when err == 0
    std::string message;       // one-line verdict for the logs
};

// `pin` empty: no PIN given (cryptsetup_token_open).
TokenOpenResult open_token(crypt_device* cd, int token, const std::optional<SecretBuffer>& pin);

// 0 when `json` is a valid cvmunlock token, -EINVAL otherwise (with the reason in `why`).
int validate_token_json(const char* json, std::string& why);

}  // namespace cvmunlock::engine
