#include "attestation_key.hpp"

#include <tss2/tss2_mu.h>

#include <cstdio>
#include <cstring>

#include "esys_ptr.hpp"
#include "nv_index.hpp"

namespace cvmunlock::tpm {

namespace {

std::string handle_name(TPM2_HANDLE handle) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", handle);
    return buf;
}

Result<ESYS_TR> open_persistent(TpmContext& tpm, TPM2_HANDLE persistent) {
    return tpm_resource(tpm, persistent, "no key is persistent at " + handle_name(persistent));
}

Result<EsysPtr<TPM2B_PUBLIC>> read_public(TpmContext& tpm, TPM2_HANDLE persistent, ESYS_TR tr) {
    TPM2B_PUBLIC* raw = nullptr;
    TSS2_RC rc = Esys_ReadPublic(tpm.esys(), tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &raw, nullptr, nullptr);
    EsysPtr<TPM2B_PUBLIC> pub(raw);
    if (rc != TSS2_RC_SUCCESS)
        return std::unexpected(esys_error(tpm.esys(), "TPM2_ReadPublic(" + handle_name(persistent) + ")", rc));
    return pub;
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
    auto tr = open_persistent(tpm, persistent);
    if (!tr) return std::unexpected(tr.error());
    auto pub = read_public(tpm, persistent, *tr);
    if (!pub) return std::unexpected(pub.error());
    PersistentKey key{persistent, *tr, Bytes(sizeof(TPM2B_PUBLIC))};
    std::size_t len = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub->get(), key.public_blob.data(), key.public_blob.size(), &len) != TSS2_RC_SUCCESS) {
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

Result<Certification> certify_with_ak(TpmContext& tpm, const PersistentKey& ak, const ObjectHandle& object,
                                      ByteView nonce) {
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

    TPM2B_ATTEST* attest_raw = nullptr;
    TPMT_SIGNATURE* sig_raw = nullptr;
    TSS2_RC rc = Esys_Certify(tpm.esys(), object.get(), ak.tr, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                              &qualifying, &scheme, &attest_raw, &sig_raw);
    EsysPtr<TPM2B_ATTEST> attest(attest_raw);
    EsysPtr<TPMT_SIGNATURE> sig(sig_raw);
    if (rc != TSS2_RC_SUCCESS) {
        return std::unexpected(esys_error(tpm.esys(), "TPM2_Certify with the AK at " + handle_name(ak.handle), rc));
    }
    Certification out;
    out.attest.assign(attest->attestationData, attest->attestationData + attest->size);
    out.signature.resize(sizeof(TPMT_SIGNATURE));
    std::size_t len = 0;
    if (Tss2_MU_TPMT_SIGNATURE_Marshal(sig.get(), out.signature.data(), out.signature.size(), &len) !=
        TSS2_RC_SUCCESS) {
        return fail(ErrorCode::Internal, "cannot marshal the TPM2_Certify signature");
    }
    out.signature.resize(len);
    return out;
}

}  // namespace cvmunlock::tpm
