// Reading keys, PINs and passphrases into SecretBuffers: from a file (its whole
// content, as cryptsetup --key-file), stdin ("-"), or asked for. Never from
// argv or the environment.
#pragma once

#include <string>

#include "cvmunlock/secret.hpp"

namespace cvmunlock::cli {

Result<SecretBuffer> read_secret_file(const std::string& path);
// A PIN from a file or stdin ("-"): it ends at its first newline.
Result<SecretBuffer> read_pin_file(const std::string& path);
// Asks the way the running system asks for passphrases: through
// systemd-ask-password (its agents: the console, plymouth, ...) when systemd
// runs; through plymouth, then cryptsetup's askpass, in an initramfs-tools
// boot; on /dev/tty otherwise. The answer comes back through a pipe. An empty
// answer is refused (InvalidInput), never tried; Unavailable when nothing can
// ask. `id` names the request for systemd's agents ("cvmunlock:DEVICE").
Result<SecretBuffer> prompt_secret(const std::string& prompt, const std::string& id = "cvmunlock");

}  // namespace cvmunlock::cli
