#include "attestation_key.hpp"

#include <tss2/tss2_mu.h>

#include <cstdio>
#include <cstring>

#include "esys_ptr.hpp"
#include "nv_index.hpp"
#include "policy_session.hpp"

namespace cvmunlock::tpm {

namespace {

std::string handle_name(TPM2_HANDLE handle) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", handle);
    return buf;
}

// The AK's scheme; a signing key without one gets RSASSA with SHA-256
// (a restricted key only accepts TPM_ALG_NULL or its own scheme, Part 3 18.2.1).
TPMT_SIG_SCHEME signing_scheme(const TPMT_PUBLIC& ak) {
    TPMT_SIG_SCHEME scheme{};
    scheme.scheme = TPM2_ALG_NULL;
    if (ak.type == TPM2_ALG_RSA && ak.parameters.rsaDetail.scheme.scheme == TPM2_ALG_NULL) {
        scheme.scheme = TPM2_ALG_RSASSA;
        scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
    }
    return scheme;
}
}  // namespace

Result<PersistentKey> open_persistent_key(TpmContext& tpm, TPM2_HANDLE persistent) {
    auto sys = sys_context(tpm);
    if (!sys) return std::unexpected(sys.error());
    TPM2B_PUBLIC pub{};
    TPM2B_NAME name{};
    TPM2B_NAME qualified{};
    TSS2_RC rc = Tss2_Sys_ReadPublic(*sys, persistent, nullptr, &pub, &name, &qualified, nullptr);
    if (rc != TSS2_RC_SUCCESS) {
        if (is_handle_error(rc)) return fail(ErrorCode::NotFound, "no key is persistent at " + handle_name(persistent), rc);
        return std::unexpected(tpm.error("TPM2_ReadPublic(" + handle_name(persistent) + ")", rc));
    }
    PersistentKey key{persistent, Bytes(sizeof(TPM2B_PUBLIC))};
    std::size_t len = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, key.public_blob.data(), key.public_blob.size(), &len) != TSS2_RC_SUCCESS) {
        return fail(ErrorCode::Internal, "cannot marshal the public area of " + handle_name(persistent));
    }
    key.public_blob.resize(len);
    return key;
}

Result<Bytes> read_persistent_public(TpmContext& tpm, TPM2_HANDLE persistent) {
    auto key = open_persistent_key(tpm, persistent);
    if (!key) return std::unexpected(key.error());
    return std::move(key->public_blob);
}

Result<Certification> certify_with_ak(TpmContext& tpm, const PersistentKey& ak, TPM2_HANDLE object, ByteView nonce) {
    TPM2B_DATA qualifying{};
    if (nonce.size() > sizeof qualifying.buffer) {
        return fail(ErrorCode::InvalidInput, "certify nonce of " + std::to_string(nonce.size()) + " bytes exceeds " +
                                                 std::to_string(sizeof qualifying.buffer));
    }
    qualifying.size = static_cast<UINT16>(nonce.size());
    if (!nonce.empty()) std::memcpy(qualifying.buffer, nonce.data(), nonce.size());

    TPM2B_PUBLIC pub{};
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(ak.public_blob.data(), ak.public_blob.size(), nullptr, &pub) != TSS2_RC_SUCCESS) {
        return fail(ErrorCode::InvalidInput, "the public area read for " + handle_name(ak.handle) + " does not unmarshal");
    }
    const TPMT_SIG_SCHEME scheme = signing_scheme(pub.publicArea);

    auto sys = sys_context(tpm);
    if (!sys) return std::unexpected(sys.error());
    // Both handles authorized by their empty passwords.
    TSS2L_SYS_AUTH_COMMAND auths = password_auth();
    auths.count = 2;
    auths.auths[1] = auths.auths[0];
    TPM2B_ATTEST attest{};
    TPMT_SIGNATURE sig{};
    TSS2_RC rc = Tss2_Sys_Certify(*sys, object, ak.handle, &auths, &qualifying, &scheme, &attest, &sig, nullptr);
    if (rc != TSS2_RC_SUCCESS) {
        return std::unexpected(tpm.error("TPM2_Certify with the AK at " + handle_name(ak.handle), rc));
    }
    Certification out;
    out.attest.assign(attest.attestationData, attest.attestationData + attest.size);
    out.signature.resize(sizeof(TPMT_SIGNATURE));
    std::size_t len = 0;
    if (Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, out.signature.data(), out.signature.size(), &len) !=
        TSS2_RC_SUCCESS) {
        return fail(ErrorCode::Internal, "cannot marshal the TPM2_Certify signature");
    }
    out.signature.resize(len);
    return out;
}

}  // namespace cvmunlock::tpm
