// TPM hash algorithms (TPM 2.0 Part 2, Table 9 TPM_ALG_ID) and hashing
// through OpenSSL EVP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"

namespace cvmunlock {

enum class HashAlg : std::uint16_t {
    Sha1 = 0x0004,
    Sha256 = 0x000B,
    Sha384 = 0x000C,
    Sha512 = 0x000D,
    Sm3_256 = 0x0012,
};

inline constexpr std::size_t kMaxDigestSize = 64;  // TPM2B_DIGEST buffer, SHA-512

// Known algorithm for a TPM_ALG_ID, or nullopt.
std::optional<HashAlg> hash_alg_from_id(std::uint16_t id) noexcept;
// Names as used in JSON and on the command line: sha1, sha256, sha384, sha512, sm3_256.
std::string_view hash_alg_name(HashAlg alg) noexcept;
std::optional<HashAlg> hash_alg_from_name(std::string_view name) noexcept;
std::size_t hash_alg_size(HashAlg alg) noexcept;

Result<Bytes> hash_bytes(HashAlg alg, ByteView data);
// The hash of the parts one after the other.
Result<Bytes> hash_parts(HashAlg alg, std::span<const ByteView> parts);

// PCR extend: new = H(old || digest).
Result<Bytes> extend_digest(HashAlg alg, ByteView old_value, ByteView digest);

}  // namespace cvmunlock
