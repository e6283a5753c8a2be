// Reading keys, PINs and passphrases into SecretBuffers: from a file (its whole
// content, as cryptsetup --key-file), stdin ("-"), or the terminal without echo.
// Never from argv or the environment.
#pragma once

#include <string>

#include "cvmunlock/secret.hpp"

namespace cvmunlock::cli {

Result<SecretBuffer> read_secret_file(const std::string& path);
// A PIN from a file or stdin ("-"): it ends at its first newline.
Result<SecretBuffer> read_pin_file(const std::string& path);
// Prompts on /dev/tty; Unavailable when there is no terminal.
Result<SecretBuffer> prompt_secret(const std::string& prompt);

}  // namespace cvmunlock::cli
