// Error type shared by every layer: a small code, a message naming what and
// where, and the native value (errno, TSS2_RC, ...) when one exists.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <utility>

namespace cvmunlock {

enum class ErrorCode {
    InvalidInput,   // malformed file, report, token, header or argument
    NotFound,       // something looked up is not there
    Unavailable,    // environment missing: no TPM, no event log, no device
    TimedOut,       // a device (the TPM) did not answer within its time limit
    PolicyRefused,  // input well formed, but a check refused it
    Tampered,       // integrity check failed (digest, signature, PCR)
    Internal,       // a library failed in a way we did not expect
};

const char* error_code_name(ErrorCode code) noexcept;

struct Error {
    ErrorCode code = ErrorCode::Internal;
    std::string message;
    std::int64_t native = 0;  // errno, TSS2_RC, firmware status; 0 when none

    Error() = default;
    Error(ErrorCode c, std::string msg, std::int64_t nat = 0)
        : code(c), message(std::move(msg)), native(nat) {}

    // Prefixes context ("reading /x: " + message), keeping code and native.
    [[nodiscard]] Error context(const std::string& what) const {
        return Error(code, what + ": " + message, native);
    }
};

template <typename T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(ErrorCode c, std::string msg, std::int64_t native = 0) {
    return std::unexpected<Error>(Error(c, std::move(msg), native));
}

}  // namespace cvmunlock
