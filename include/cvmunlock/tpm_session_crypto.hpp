// The cryptography of a salted TPM 2.0 authorization session, done with one
// OpenSSL library context (ours) rather than tpm2-tss 3.2's, which starts a
// new one for every hash and HMAC (docs/benchmarks.md). TPM 2.0 Part 1:
// 11.4.10 (KDFa, KDFe), 19.6 (session HMAC), 21 (parameter encryption),
// 24 and Annex C.6 (salt secured by an ECC key).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"
#include "cvmunlock/hash.hpp"
#include "cvmunlock/secret.hpp"

namespace cvmunlock::session_crypto {

// KDFa (Part 1, 11.4.10.2): SP 800-108 counter mode with HMAC(alg);
// the label is followed by one zero octet. `bits` is a multiple of 8.
Result<SecretBuffer> kdfa(HashAlg alg, ByteView key, std::string_view label, ByteView context_u,
                          ByteView context_v, std::size_t bits);

// KDFe (Part 1, 11.4.10.3): SP 800-56A concatenation KDF with hash(alg).
Result<SecretBuffer> kdfe(HashAlg alg, ByteView z, std::string_view label, ByteView party_u, ByteView party_v,
                          std::size_t bits);

// A salt for TPM2_StartAuthSession, secured by the TPM's NIST P-256 key with
// public point (x, y): one-pass ECDH with an ephemeral key, then KDFe(alg, Z,
// "SECRET", ephemeral x, key x). `encrypted` is the marshaled TPMS_ECC_POINT
// of the ephemeral key (the buffer of TPM2B_ENCRYPTED_SECRET). A point that
// is not on the curve is refused.
struct EccSalt {
    Bytes encrypted;
    SecretBuffer salt;
};
Result<EccSalt> ecc_p256_salt(HashAlg alg, ByteView x, ByteView y);

// The key of a session's HMACs and parameter encryption (Part 1, 19.6.8):
// sessionKey, followed by the authorized entity's authValue when the session
// includes it (a policy session after PolicyAuthValue), with its trailing
// zero octets removed as the TPM does.
SecretBuffer hmac_key(const SecretBuffer& session_key, const SecretBuffer& auth_value, bool include_auth);

// cpHash (Part 1, 18.7): H(commandCode || names of the handles || parameters).
Result<Bytes> command_hash(HashAlg alg, std::uint32_t command_code, std::span<const ByteView> names,
                           ByteView parameters);
// rpHash (Part 1, 18.8) of a successful response: H(0 || commandCode || parameters).
Result<Bytes> response_hash(HashAlg alg, std::uint32_t command_code, ByteView parameters);

// The session HMAC (Part 1, 19.6.5): HMAC(key, pHash || nonceNewer ||
// nonceOlder || sessionAttributes). For a command nonceNewer is the caller's
// nonce, for a response the TPM's.
Result<Bytes> session_hmac(HashAlg alg, const SecretBuffer& key, ByteView p_hash, ByteView nonce_newer,
                           ByteView nonce_older, std::uint8_t attributes);

// Decrypts the first response parameter's buffer in place (Part 1, 21.4,
// AES-128 in CFB mode): key and IV from KDFa(alg, key, "CFB", nonceTPM,
// nonceCaller, 256).
Result<void> aes128_cfb_decrypt_response(HashAlg alg, const SecretBuffer& key, ByteView nonce_tpm,
                                         ByteView nonce_caller, std::span<std::uint8_t> data);

}  // namespace cvmunlock::session_crypto
