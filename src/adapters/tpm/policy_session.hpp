// The unseal's own session, over SAPI: a policy session salted to the SRK
// and the TPM2_Unseal it authorizes, with the session's cryptography done by
// core's session_crypto in our OpenSSL context. ESAPI (tpm2-tss 3.2) would
// start a new OpenSSL library context for each of the dozen hashes and HMACs
// of this sequence, which costs more than the TPM commands (docs/benchmarks.md).
#pragma once

#include <tss2/tss2_sys.h>

#include <utility>

#include "cvmunlock/secret.hpp"
#include "srk.hpp"
#include "sys_handle.hpp"

namespace cvmunlock::tpm {

// TPM2_Load under the SRK with its (empty) password. The TPM checks the
// blob's integrity under the SRK: a blob that does not load is Tampered.
Result<SysHandle> load_under_srk(TpmContext& tpm, const Srk& srk, const TPM2B_PRIVATE& priv, const TPM2B_PUBLIC& pub);

class PolicySession {
public:
    // TPM2_StartAuthSession: a policy session, SHA-256, AES-128-CFB, with a
    // salt only the holder of the SRK's private key can recover (ECDH to
    // srk.pub, whose name the caller checked), so only that TPM can answer
    // the Unseal with a valid HMAC.
    static Result<PolicySession> start_salted(TpmContext& tpm, const Srk& srk);
    [[nodiscard]] TPM2_HANDLE handle() const noexcept { return handle_.get(); }

    // TPM2_Unseal of `item` (named `item_name`) under this session, the data
    // returned encrypted. The response HMAC is checked before the data is
    // decrypted: a response the salted TPM did not make is NotFound (not the
    // enrolled vTPM). `auth`
    // joins the HMAC key when the policy ran PolicyAuthValue. A successful
    // Unseal closes the session (continueSession clear).
    Result<SecretBuffer> unseal(TpmContext& tpm, TPM2_HANDLE item, ByteView item_name, const SecretBuffer& auth,
                                bool auth_value);

private:
    // One submission; the TPM may ask for it again (TPM_RC_RETRY), with the
    // session unchanged, so a fresh nonce and HMAC are made each time.
    Result<SecretBuffer> unseal_once(TpmContext& tpm, TPM2_HANDLE item, ByteView item_name, const SecretBuffer& auth,
                                     bool auth_value);
    PolicySession(SysHandle handle, SecretBuffer key, Bytes nonce_tpm) noexcept
        : handle_(std::move(handle)), session_key_(std::move(key)), nonce_tpm_(std::move(nonce_tpm)) {}
    SysHandle handle_;
    SecretBuffer session_key_;
    Bytes nonce_tpm_;
};


}  // namespace cvmunlock::tpm
