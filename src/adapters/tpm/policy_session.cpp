#include "policy_session.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstring>

#include "cvmunlock/tpm_session_crypto.hpp"

namespace cvmunlock::tpm {

namespace {

constexpr HashAlg kSessionHash = HashAlg::Sha256;
constexpr std::size_t kNonceSize = 32;  // the session hash's digest size (Part 1, 19.6.2)

Result<TPM2B_NONCE> fresh_nonce() {
    TPM2B_NONCE nonce{};
    nonce.size = kNonceSize;
    if (RAND_bytes(nonce.buffer, kNonceSize) != 1) return fail(ErrorCode::Internal, "OpenSSL could not make a nonce");
    return nonce;
}

ByteView view(const TPM2B_NONCE& n) { return {n.buffer, n.size}; }

// TPM_RC_RETRY, TPM_RC_YIELDED, TPM_RC_TESTING (TPM 2.0 Part 2, 6.6.3): the
// TPM did not run the command and asks for it again (swtpm answers the first
// TPM2_Unseal of a DA-protected object so), as ESAPI resends it.
constexpr int kMaxSubmissions = 5;
bool asks_to_resend(TSS2_RC rc) {
    return rc == TPM2_RC_RETRY || rc == TPM2_RC_YIELDED || rc == TPM2_RC_TESTING;
}

// Where the response HMAC is wrong the answer did not come from the TPM that
// holds the salted SRK, or it was altered on the way: no secret leaves.
// NotFound: the holder of the enrolled SRK is not behind this vTPM (the
// engine's srk-mismatch), unlike a blob the TPM will not load (Tampered).
Error forged(const std::string& detail) {
    return Error(ErrorCode::NotFound, "the answer to TPM2_Unseal is not the vTPM's: " + detail +
                                          " (another TPM, or the reply was altered on the way)");
}
}  // namespace


Result<SysHandle> load_under_srk(TpmContext& tpm, const Srk& srk, const TPM2B_PRIVATE& priv, const TPM2B_PUBLIC& pub) {
    auto sys = sys_context(tpm);
    if (!sys) return std::unexpected(sys.error());
    const TSS2L_SYS_AUTH_COMMAND auths = password_auth();
    TPM2_HANDLE handle = 0;
    TPM2B_NAME name{};
    TSS2_RC rc = Tss2_Sys_Load(*sys, srk.tpm_handle, &auths, &priv, &pub, &handle, &name, nullptr);
    if (rc != TSS2_RC_SUCCESS) {
        Error e = tpm.error("TPM2_Load under the SRK", rc);
        if (e.code != ErrorCode::Unavailable && e.code != ErrorCode::TimedOut) e.code = ErrorCode::Tampered;
        return std::unexpected(e);
    }
    return SysHandle(*sys, handle);
}

Result<PolicySession> PolicySession::start_salted(TpmContext& tpm, const Srk& srk) {
    const TPMT_PUBLIC& key = srk.pub.publicArea;
    if (key.type != TPM2_ALG_ECC || key.parameters.eccDetail.curveID != TPM2_ECC_NIST_P256 ||
        key.nameAlg != static_cast<TPMI_ALG_HASH>(kSessionHash)) {
        return fail(ErrorCode::Internal, "the SRK is not a NIST P-256 key named with SHA-256");
    }
    auto sys = sys_context(tpm);
    if (!sys) return std::unexpected(sys.error());
    auto salt = session_crypto::ecc_p256_salt(kSessionHash, ByteView(key.unique.ecc.x.buffer, key.unique.ecc.x.size),
                                              ByteView(key.unique.ecc.y.buffer, key.unique.ecc.y.size));
    if (!salt) return std::unexpected(salt.error().context("salting the session with the SRK"));
    TPM2B_ENCRYPTED_SECRET encrypted{};
    if (salt->encrypted.size() > sizeof encrypted.secret) return fail(ErrorCode::Internal, "encrypted salt too long");
    encrypted.size = static_cast<UINT16>(salt->encrypted.size());
    std::memcpy(encrypted.secret, salt->encrypted.data(), salt->encrypted.size());
    auto nonce_caller = fresh_nonce();
    if (!nonce_caller) return std::unexpected(nonce_caller.error());

    TPMT_SYM_DEF sym{};
    sym.algorithm = TPM2_ALG_AES;
    sym.keyBits.aes = 128;
    sym.mode.aes = TPM2_ALG_CFB;
    TPMI_SH_AUTH_SESSION handle = 0;
    TPM2B_NONCE nonce_tpm{};
    TSS2_RC rc = Tss2_Sys_StartAuthSession(*sys, srk.tpm_handle, TPM2_RH_NULL, nullptr, &*nonce_caller, &encrypted,
                                           TPM2_SE_POLICY, &sym, static_cast<TPMI_ALG_HASH>(kSessionHash), &handle,
                                           &nonce_tpm, nullptr);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm.error("TPM2_StartAuthSession (salted with the SRK)", rc));
    SysHandle session(*sys, handle);
    // sessionKey = KDFa(authHash, salt, "ATH", nonceTPM, nonceCaller, digest bits) (Part 1, 19.6.8), bind NULL.
    auto session_key = session_crypto::kdfa(kSessionHash, salt->salt.secret_view(), "ATH", view(nonce_tpm),
                                            view(*nonce_caller), hash_alg_size(kSessionHash) * 8);
    if (!session_key) return std::unexpected(session_key.error());
    return PolicySession(std::move(session), std::move(*session_key), Bytes(view(nonce_tpm).begin(), view(nonce_tpm).end()));
}

Result<SecretBuffer> PolicySession::unseal(TpmContext& tpm, TPM2_HANDLE item, ByteView item_name,
                                           const SecretBuffer& auth, bool auth_value) {
    for (int submission = 1;; ++submission) {
        auto secret = unseal_once(tpm, item, item_name, auth, auth_value);
        if (secret || submission == kMaxSubmissions || !asks_to_resend(static_cast<TSS2_RC>(secret.error().native))) {
            return secret;
        }
    }
}

Result<SecretBuffer> PolicySession::unseal_once(TpmContext& tpm, TPM2_HANDLE item, ByteView item_name,
                                                const SecretBuffer& auth, bool auth_value) {
    auto sys = sys_context(tpm);
    if (!sys) return std::unexpected(sys.error());
    auto nonce_caller = fresh_nonce();
    if (!nonce_caller) return std::unexpected(nonce_caller.error());
    const SecretBuffer key = session_crypto::hmac_key(session_key_, auth, auth_value);
    // Response encryption; continueSession clear: the TPM closes the session.
    const std::uint8_t attributes = TPMA_SESSION_ENCRYPT;
    const ByteView names[] = {item_name};
    auto cp_hash = session_crypto::command_hash(kSessionHash, TPM2_CC_Unseal, names, {});
    if (!cp_hash) return std::unexpected(cp_hash.error());
    auto hmac = session_crypto::session_hmac(kSessionHash, key, *cp_hash, view(*nonce_caller), nonce_tpm_, attributes);
    if (!hmac) return std::unexpected(hmac.error());

    TSS2L_SYS_AUTH_COMMAND command{};
    command.count = 1;
    command.auths[0].sessionHandle = handle_.get();
    command.auths[0].nonce = *nonce_caller;
    command.auths[0].sessionAttributes = attributes;
    command.auths[0].hmac.size = static_cast<UINT16>(hmac->size());
    std::memcpy(command.auths[0].hmac.buffer, hmac->data(), hmac->size());
    TSS2L_SYS_AUTH_RESPONSE response{};
    TPM2B_SENSITIVE_DATA out{};
    struct Wipe {
        TPM2B_SENSITIVE_DATA& d;
        ~Wipe() { wipe(&d, sizeof d); }
    } wipe_out{out};
    TSS2_RC rc = Tss2_Sys_Unseal(*sys, item, &command, &out, &response);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm.error("TPM2_Unseal", rc));

    // The TPM closed the session whoever answered; flushing it again would only fail.
    handle_.consumed();
    if (response.count != 1) return std::unexpected(forged("it has no session in its authorization area"));
    const TPMS_AUTH_RESPONSE& answer = response.auths[0];
    const uint8_t* params = nullptr;
    size_t params_size = 0;
    if (Tss2_Sys_GetRpBuffer(*sys, &params_size, &params) != TSS2_RC_SUCCESS) {
        return fail(ErrorCode::Internal, "reading TPM2_Unseal's response parameters");
    }
    auto rp_hash = session_crypto::response_hash(kSessionHash, TPM2_CC_Unseal, ByteView(params, params_size));
    if (!rp_hash) return std::unexpected(rp_hash.error());
    auto expected = session_crypto::session_hmac(kSessionHash, key, *rp_hash, view(answer.nonce), view(*nonce_caller),
                                                 answer.sessionAttributes);
    if (!expected) return std::unexpected(expected.error());
    if (answer.hmac.size != expected->size() ||
        CRYPTO_memcmp(answer.hmac.buffer, expected->data(), expected->size()) != 0) {
        return std::unexpected(forged("its HMAC does not verify under the session salted to the storage root key"));
    }
    if ((answer.sessionAttributes & TPMA_SESSION_ENCRYPT) == 0) {
        return std::unexpected(forged("it says the data was not encrypted"));
    }
    if (auto r = session_crypto::aes128_cfb_decrypt_response(kSessionHash, key, view(answer.nonce), view(*nonce_caller),
                                                             std::span<std::uint8_t>(out.buffer, out.size));
        !r) {
        return std::unexpected(r.error());
    }
    return SecretBuffer::copy_of(ByteView(out.buffer, out.size));
}

}  // namespace cvmunlock::tpm
