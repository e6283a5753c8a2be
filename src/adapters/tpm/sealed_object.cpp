#include "esys_ptr.hpp"
#include "cvmunlock/policy_key.hpp"
#include "sealed_object.hpp"
#include "nv_index.hpp"
#include "policy_session.hpp"
#include "session.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

namespace cvmunlock::tpm {

namespace {

// TPM 2.0 Part 2, 6.6 TPM_RC: format-1 codes that mean "this policy is not satisfied".
bool is_policy_failure(TSS2_RC rc) {
    const TSS2_RC base = (rc & TPM2_RC_FMT1) != 0 ? (rc & 0xBF) : (rc & 0xFFF);
    return base == (TPM2_RC_POLICY_FAIL & 0xBF) || base == (TPM2_RC_PCR_CHANGED & 0xFFF) ||
           base == (TPM2_RC_VALUE & 0xBF);
}

Result<void> unmarshal_blob(const SealedBlob& blob, TPM2B_PUBLIC& pub, TPM2B_PRIVATE& priv) {
    size_t off = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(blob.public_blob.data(), blob.public_blob.size(), &off, &pub) != 0 ||
        off != blob.public_blob.size()) {
        return fail(ErrorCode::InvalidInput, "cvmunlock token: tpm_public is not a TPM2B_PUBLIC");
    }
    off = 0;
    if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(blob.private_blob.data(), blob.private_blob.size(), &off, &priv) != 0 ||
        off != blob.private_blob.size()) {
        return fail(ErrorCode::InvalidInput, "cvmunlock token: tpm_private is not a TPM2B_PRIVATE");
    }
    return {};
}

}  // namespace

Result<SealedBlob> create_object(TpmContext& tpm, const Srk& srk, const TPM2B_SENSITIVE_CREATE& sensitive,
                                 const TPM2B_PUBLIC& in_public) {
    ESYS_CONTEXT* esys = tpm.esys();
    // The sensitive data travels to the TPM encrypted (decrypt attribute on a salted HMAC session).
    auto session = Session::start(tpm, &srk, TPM2_SE_HMAC, TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION);
    if (!session) return std::unexpected(session.error());
    TPM2B_DATA outside{};
    TPML_PCR_SELECTION creation_pcr{};
    TPM2B_PRIVATE* priv_raw = nullptr;
    TPM2B_PUBLIC* pub_raw = nullptr;
    auto parent = esys_handle(tpm, srk);
    if (!parent) return std::unexpected(parent.error());
    TSS2_RC rc = Esys_Create(esys, *parent, session->get(), ESYS_TR_NONE, ESYS_TR_NONE, &sensitive,
                             &in_public, &outside, &creation_pcr, &priv_raw, &pub_raw, nullptr, nullptr, nullptr);
    EsysPtr<TPM2B_PRIVATE> priv(priv_raw);
    EsysPtr<TPM2B_PUBLIC> pub(pub_raw);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(esys_error(tpm.esys(), "TPM2_Create", rc));

    SealedBlob blob;
    blob.public_blob.resize(sizeof(TPM2B_PUBLIC));
    blob.private_blob.resize(sizeof(TPM2B_PRIVATE));
    size_t pub_len = 0;
    size_t priv_len = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub.get(), blob.public_blob.data(), blob.public_blob.size(), &pub_len) != 0 ||
        Tss2_MU_TPM2B_PRIVATE_Marshal(priv.get(), blob.private_blob.data(), blob.private_blob.size(), &priv_len) != 0) {
        return fail(ErrorCode::Internal, "marshaling the created object");
    }
    blob.public_blob.resize(pub_len);
    blob.private_blob.resize(priv_len);
    return blob;
}

Result<ObjectHandle> load_object(TpmContext& tpm, const Srk& srk, const SealedBlob& blob) {
    TPM2B_PUBLIC pub{};
    TPM2B_PRIVATE priv{};
    if (auto r = unmarshal_blob(blob, pub, priv); !r) return std::unexpected(r.error());
    auto parent = esys_handle(tpm, srk);
    if (!parent) return std::unexpected(parent.error());
    ESYS_TR loaded = ESYS_TR_NONE;
    TSS2_RC rc = Esys_Load(tpm.esys(), *parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, &loaded);
    if (rc != TSS2_RC_SUCCESS) {
        Error e = esys_error(tpm.esys(), "TPM2_Load under the SRK", rc);
        if (e.code != ErrorCode::Unavailable) e.code = ErrorCode::Tampered;
        return std::unexpected(e);
    }
    return ObjectHandle(tpm.esys(), loaded, true);
}

Result<SealedBlob> seal(TpmContext& tpm, const Srk& srk, const SecretBuffer& data, ByteView policy,
                        const SecretBuffer& auth, bool dictionary_attack_protected) {
    TPM2B_SENSITIVE_CREATE sensitive{};
    if (data.size() > sizeof sensitive.sensitive.data.buffer || auth.size() > sizeof sensitive.sensitive.userAuth.buffer ||
        policy.size() > sizeof(TPMU_HA)) {
        return fail(ErrorCode::Internal, "sealed data, auth or policy too large");
    }
    sensitive.sensitive.data.size = static_cast<UINT16>(data.size());
    std::memcpy(sensitive.sensitive.data.buffer, data.secret_bytes(), data.size());
    sensitive.sensitive.userAuth.size = static_cast<UINT16>(auth.size());
    if (!auth.empty()) std::memcpy(sensitive.sensitive.userAuth.buffer, auth.secret_bytes(), auth.size());

    TPM2B_PUBLIC in_public{};
    TPMT_PUBLIC& p = in_public.publicArea;
    p.type = TPM2_ALG_KEYEDHASH;
    p.nameAlg = TPM2_ALG_SHA256;
    // userWithAuth clear: only the policy can authorize use. noDA unless a PIN guards it.
    p.objectAttributes =
        TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | (dictionary_attack_protected ? 0 : TPMA_OBJECT_NODA);
    p.authPolicy.size = static_cast<UINT16>(policy.size());
    std::memcpy(p.authPolicy.buffer, policy.data(), policy.size());
    p.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;

    auto blob = create_object(tpm, srk, sensitive, in_public);
    wipe(&sensitive, sizeof sensitive);
    return blob;
}

namespace {
// A policy command the session's state can fail (PolicyOR: the digest is in
// no branch; PolicyAuthorizeNV: it is not the index's policy): PolicyRefused.
Error policy_step_error(TpmContext& tpm, const std::string& what, TSS2_RC rc) {
    Error e = esys_error(tpm.esys(), what, rc);
    if (is_policy_failure(rc)) {
        e.code = ErrorCode::PolicyRefused;
        e.message = "the vTPM refused " + what + ": its PCRs match no policy it authorizes (" + e.message + ")";
    }
    return e;
}

// PolicyOR over the token's branches, then PolicyAuthorizeNV on the policy
// index, which must still carry the name the object was sealed for.
Result<void> authorize_nv_steps(TpmContext& tpm, TSS2_SYS_CONTEXT* sys, TPM2_HANDLE session, const UnsealPolicy& policy) {
    ESYS_CONTEXT* esys = tpm.esys();
    if (policy.or_branches.size() >= 2) {
        TPML_DIGEST list{};
        for (const auto& d : policy.or_branches) {
            if (list.count >= 8 || d.size() > sizeof list.digests[0].buffer) return fail(ErrorCode::InvalidInput, "PolicyOR list too long");
            list.digests[list.count].size = static_cast<UINT16>(d.size());
            std::memcpy(list.digests[list.count].buffer, d.data(), d.size());
            ++list.count;
        }
        TSS2_RC rc = Tss2_Sys_PolicyOR(sys, session, nullptr, &list, nullptr);
        if (rc != TSS2_RC_SUCCESS) return std::unexpected(policy_step_error(tpm, "TPM2_PolicyOR", rc));
    }
    if (!policy.nv) return {};
    char handle[16];
    std::snprintf(handle, sizeof handle, "0x%08x", policy.nv->index);
    auto nv = tpm_resource(tpm, policy.nv->index, std::string("the policy NV index ") + handle +
                                                      " is gone from the vTPM (its state was reset or cleared)");
    if (!nv) return std::unexpected(nv.error());
    TPM2B_NAME* name_raw = nullptr;
    if (TSS2_RC rc = Esys_TR_GetName(esys, *nv, &name_raw); rc != TSS2_RC_SUCCESS) {
        return std::unexpected(esys_error(esys, "reading the policy NV index's name", rc));
    }
    EsysPtr<TPM2B_NAME> name(name_raw);
    if (Bytes(name->name, name->name + name->size) != policy.nv->name) {
        return fail(ErrorCode::NotFound, std::string("the policy NV index ") + handle +
                                             " is not the one the key was sealed for (it was redefined)");
    }
    const TSS2L_SYS_AUTH_COMMAND index_auth = password_auth();
    TSS2_RC rc = Tss2_Sys_PolicyAuthorizeNV(sys, policy.nv->index, policy.nv->index, session, &index_auth, nullptr);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(policy_step_error(tpm, "TPM2_PolicyAuthorizeNV", rc));
    return {};
}
// TPM2_LoadExternal of the signing key (owner hierarchy: a ticket from the
// null hierarchy would not count), TPM2_VerifySignature of the policy it
// signed, TPM2_PolicyAuthorize with the ticket.
Result<void> authorize_signed_steps(TpmContext& tpm, TSS2_SYS_CONTEXT* sys, TPM2_HANDLE session,
                                    const SignedPolicyRef& signed_policy) {
    ESYS_CONTEXT* esys = tpm.esys();
    TPM2B_PUBLIC pub{};
    size_t off = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(signed_policy.key_public.data(), signed_policy.key_public.size(), &off, &pub) != 0) {
        return fail(ErrorCode::InvalidInput, "cvmunlock token: policy_key.public is not a TPM2B_PUBLIC");
    }
    ESYS_TR key_tr = ESYS_TR_NONE;
    TSS2_RC rc = Esys_LoadExternal(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nullptr, &pub, ESYS_TR_RH_OWNER, &key_tr);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(esys_error(esys, "TPM2_LoadExternal (the policy key)", rc));
    ObjectHandle key(esys, key_tr, true);
    auto digest = hash_bytes(HashAlg::Sha256, signed_policy.approved);
    if (!digest) return std::unexpected(digest.error());
    TPM2B_DIGEST d{};
    d.size = static_cast<UINT16>(digest->size());
    std::memcpy(d.buffer, digest->data(), digest->size());
    TPMT_SIGNATURE sig{};
    sig.sigAlg = TPM2_ALG_RSASSA;
    sig.signature.rsassa.hash = TPM2_ALG_SHA256;
    if (signed_policy.signature.size() > sizeof sig.signature.rsassa.sig.buffer) {
        return fail(ErrorCode::InvalidInput, "policy signature too long");
    }
    sig.signature.rsassa.sig.size = static_cast<UINT16>(signed_policy.signature.size());
    std::memcpy(sig.signature.rsassa.sig.buffer, signed_policy.signature.data(), signed_policy.signature.size());
    TPMT_TK_VERIFIED* ticket_raw = nullptr;
    rc = Esys_VerifySignature(esys, key.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &d, &sig, &ticket_raw);
    EsysPtr<TPMT_TK_VERIFIED> ticket(ticket_raw);
    if (rc != TSS2_RC_SUCCESS) {
        Error e = esys_error(esys, "TPM2_VerifySignature", rc);
        e.code = ErrorCode::PolicyRefused;
        e.message = "the vTPM refused the policy signature: it is not the policy key's signature of these PCR values (" +
                    e.message + ")";
        return std::unexpected(e);
    }
    TPM2B_NAME* name_raw = nullptr;
    if (rc = Esys_TR_GetName(esys, key.get(), &name_raw); rc != TSS2_RC_SUCCESS) {
        return std::unexpected(esys_error(esys, "reading the policy key's name", rc));
    }
    EsysPtr<TPM2B_NAME> name(name_raw);
    TPM2B_DIGEST approved{};
    approved.size = static_cast<UINT16>(signed_policy.approved.size());
    std::memcpy(approved.buffer, signed_policy.approved.data(), signed_policy.approved.size());
    TPM2B_NONCE no_ref{};
    rc = Tss2_Sys_PolicyAuthorize(sys, session, nullptr, &approved, &no_ref, name.get(), ticket.get(), nullptr);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(policy_step_error(tpm, "TPM2_PolicyAuthorize", rc));
    return {};
}
}  // namespace

Result<SecretBuffer> unseal(TpmContext& tpm, Srk& srk, const SealedBlob& blob, const UnsealPolicy& policy,
                            const SecretBuffer& auth) {
    TPM2B_PUBLIC pub{};
    TPM2B_PRIVATE priv{};
    if (auto r = unmarshal_blob(blob, pub, priv); !r) return std::unexpected(r.error());
    auto item_name = tpm_object_name(blob.public_blob);
    if (!item_name) return std::unexpected(item_name.error());
    auto sys = sys_context(tpm);
    if (!sys) return std::unexpected(sys.error());
    auto object = load_under_srk(tpm, srk, priv, pub);
    if (!object) return std::unexpected(object.error().context("the sealed object"));
    auto session = PolicySession::start_salted(tpm, srk);
    if (!session) return std::unexpected(session.error());
    // Neither the session nor the loaded object needs its parent any more.
    flush_transient(srk);

    PcrBankValues sel{policy.bank, {}};
    for (auto pcr : policy.pcrs) sel.values[pcr] = {};
    const Bytes marshaled = marshal_pcr_selection({sel});
    TPML_PCR_SELECTION pcrs{};
    size_t off = 0;
    Tss2_MU_TPML_PCR_SELECTION_Unmarshal(marshaled.data(), marshaled.size(), &off, &pcrs);
    TPM2B_DIGEST empty{};
    TSS2_RC rc = Tss2_Sys_PolicyPCR(*sys, session->handle(), nullptr, &empty, &pcrs, nullptr);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm.error("TPM2_PolicyPCR", rc));
    if (auto r = authorize_nv_steps(tpm, *sys, session->handle(), policy); !r) return std::unexpected(r.error());
    if (policy.signed_policy) {
        if (auto r = authorize_signed_steps(tpm, *sys, session->handle(), *policy.signed_policy); !r) {
            return std::unexpected(r.error());
        }
    }
    if (policy.auth_value) {
        rc = Tss2_Sys_PolicyAuthValue(*sys, session->handle(), nullptr, nullptr);
        if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm.error("TPM2_PolicyAuthValue", rc));
    }
    auto secret = session->unseal(tpm, object->get(), *item_name, auth, policy.auth_value);
    if (!secret) {
        Error e = secret.error();
        const auto code = static_cast<TSS2_RC>(e.native);
        if (e.code == ErrorCode::Tampered || e.code == ErrorCode::TimedOut) return std::unexpected(e);
        if (is_policy_failure(code)) {
            e.code = ErrorCode::PolicyRefused;
            e.message = "the vTPM refused to unseal: its PCRs do not match the sealed policy (" + e.message + ")";
        } else if (is_auth_failure(code)) {
            e.code = ErrorCode::PolicyRefused;
            e.message = "the vTPM refused the sealed object's authorization value (" + e.message + ")";
        }
        return std::unexpected(e);
    }
    return secret;
}

bool is_auth_failure(std::int64_t tss_rc) {
    const auto rc = static_cast<TSS2_RC>(tss_rc);
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER || (rc & TPM2_RC_FMT1) == 0) return false;
    return (rc & 0xBF) == (TPM2_RC_AUTH_FAIL & 0xBF) || (rc & 0xBF) == (TPM2_RC_BAD_AUTH & 0xBF);
}

Result<SecretBuffer> random_secret(TpmContext& tpm, std::size_t n) {
    if (n > 32) return fail(ErrorCode::Internal, "random_secret: at most 32 bytes");
    TPM2B_DIGEST* raw = nullptr;
    TSS2_RC rc = Esys_GetRandom(tpm.esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, static_cast<UINT16>(n), &raw);
    EsysPtr<TPM2B_DIGEST> tpm_bytes(raw);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(esys_error(tpm.esys(), "TPM2_GetRandom", rc));
    SecretBuffer mix(64);
    if (RAND_priv_bytes(mix.secret_bytes(), 32) != 1) return fail(ErrorCode::Internal, "OpenSSL RAND_priv_bytes failed");
    std::memcpy(mix.secret_bytes() + 32, tpm_bytes->buffer, std::min<std::size_t>(tpm_bytes->size, 32));
    SecretBuffer out(32);
    unsigned int len = 0;
    if (EVP_Digest(mix.secret_bytes(), mix.size(), out.secret_bytes(), &len, EVP_sha256(), nullptr) != 1) {
        return fail(ErrorCode::Internal, "SHA-256 failed");
    }
    out.resize(n);
    return out;
}

Result<Bytes> object_policy(const Bytes& public_blob) {
    TPM2B_PUBLIC pub{};
    size_t off = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(public_blob.data(), public_blob.size(), &off, &pub) != 0 || off != public_blob.size()) {
        return fail(ErrorCode::InvalidInput, "cvmunlock token: tpm_public is not a TPM2B_PUBLIC");
    }
    return Bytes(pub.publicArea.authPolicy.buffer, pub.publicArea.authPolicy.buffer + pub.publicArea.authPolicy.size);
}

}  // namespace cvmunlock::tpm
