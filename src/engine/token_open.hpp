// The logic behind the libcryptsetup token plugin: check that libcryptsetup
// loaded the header we read and accept, unseal the token it asks for, bind
// the volume key, and answer with the errno that makes libcryptsetup and
// systemd-cryptsetup do the right next thing (reason.hpp).
#pragma once

#include <optional>
#include <string>

#include "cvmunlock/secret.hpp"

struct crypt_device;

namespace cvmunlock::engine {

struct TokenOpenResult {
    int err = 0;               // 0, or a negative errno (reason.hpp)
    SecretBuffer passphrase;   // set when err == 0
    std::string message;       // one-line verdict for the logs
    bool final = false;        // a refusal that ends libcryptsetup's token loop (logged as an error)
};

// `pin` empty: no PIN given (cryptsetup_token_open). A refusal ends
// libcryptsetup's token loop (one vTPM attempt per refusal) unless another
// cvmunlock token of the volume may still open it (-ENOENT: libcryptsetup
// goes on to it), or a PIN is needed or wrong (-ENOANO: it asks for one).
// Refusals are remembered for the rest of the process (one volume per
// systemd-cryptsetup run), so a token is not tried again in libcryptsetup's
// second pass over the tokens.
TokenOpenResult open_token(crypt_device* cd, int token, const std::optional<SecretBuffer>& pin);

// 0 when `json` is a valid cvmunlock token, -EINVAL otherwise (with the reason in `why`).
int validate_token_json(const char* json, std::string& why);

}  // namespace cvmunlock::engine
