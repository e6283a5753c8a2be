#include "srk.hpp"

#include <tss2/tss2_mu.h>
#include <tss2/tss2_sys.h>

#include <cstring>
#include <utility>

#include "cvmunlock/policy_key.hpp"
#include "esys_ptr.hpp"

namespace cvmunlock::tpm {

namespace {

bool matches_template(const TPMT_PUBLIC& p) {
    const TPMT_PUBLIC t = srk_template().publicArea;
    const auto& a = p.parameters.eccDetail;
    const auto& b = t.parameters.eccDetail;
    return p.type == t.type && p.nameAlg == t.nameAlg && p.objectAttributes == t.objectAttributes &&
           p.authPolicy.size == 0 && a.symmetric.algorithm == b.symmetric.algorithm &&
           a.symmetric.keyBits.aes == b.symmetric.keyBits.aes && a.symmetric.mode.aes == b.symmetric.mode.aes &&
           a.scheme.scheme == b.scheme.scheme && a.curveID == b.curveID && a.kdf.scheme == b.kdf.scheme;
}

Result<Bytes> name_of(ESYS_CONTEXT* esys, ESYS_TR handle) {
    TPM2B_NAME* raw = nullptr;
    TSS2_RC rc = Esys_TR_GetName(esys, handle, &raw);
    EsysPtr<TPM2B_NAME> name(raw);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(esys_error(esys, "reading the SRK name", rc));
    return Bytes(name->name, name->name + name->size);
}

Result<Bytes> public_name(const TPM2B_PUBLIC& pub) {
    Bytes blob(sizeof(TPM2B_PUBLIC));
    size_t len = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, blob.data(), blob.size(), &len) != TSS2_RC_SUCCESS) {
        return fail(ErrorCode::Internal, "marshaling the SRK's public area");
    }
    blob.resize(len);
    return tpm_object_name(blob);
}

bool is_handle_missing(TSS2_RC rc) {
    // TPM_RC_HANDLE (format 1): nothing persistent there.
    return (rc & TPM2_RC_FMT1) != 0 && (rc & 0x3F) == (TPM2_RC_HANDLE & 0x3F);
}

// The key at 0x81000001 read through SAPI (TPM2_ReadPublic) and named by our
// own hash of the public area it returned: the SRK if its name is
// `expected_name`, else as persistent_srk decides (another key of the SRK
// template is returned, and refused by its name; any other key or none, nothing).
Result<std::optional<Srk>> persistent_srk_named(TpmContext& tpm, const Bytes& expected_name) {
    auto sys_or = sys_context(tpm);
    if (!sys_or) return std::unexpected(sys_or.error());
    TSS2_SYS_CONTEXT* sys = *sys_or;
    Srk srk;
    TPM2B_NAME tpm_name{};
    TPM2B_NAME qualified{};
    TSS2_RC rc = Tss2_Sys_ReadPublic(sys, kSrkPersistentHandle, nullptr, &srk.pub, &tpm_name, &qualified, nullptr);
    if (rc != TSS2_RC_SUCCESS) {
        if (is_handle_missing(rc)) return std::optional<Srk>();
        return std::unexpected(tpm.error("TPM2_ReadPublic(0x81000001)", rc));
    }
    auto name = public_name(srk.pub);
    if (!name) return std::unexpected(name.error());
    if (*name != expected_name && !matches_template(srk.pub.publicArea)) return std::optional<Srk>();
    srk.name = std::move(*name);
    srk.persistent = true;
    srk.tpm_handle = kSrkPersistentHandle;
    return std::optional<Srk>(std::move(srk));
}

// Returns the persistent SRK, or an empty optional if 0x81000001 is free or holds another key.
Result<std::optional<Srk>> persistent_srk(TpmContext& tpm, const Bytes* expected_name) {
    if (expected_name != nullptr) return persistent_srk_named(tpm, *expected_name);
    ESYS_CONTEXT* esys = tpm.esys();
    ESYS_TR handle = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(esys, kSrkPersistentHandle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &handle);
    if (rc != TSS2_RC_SUCCESS) {
        if (is_handle_missing(rc)) return std::optional<Srk>();
        return std::unexpected(esys_error(esys, "looking up the persistent SRK 0x81000001", rc));
    }
    TPM2B_PUBLIC* pub_raw = nullptr;
    rc = Esys_ReadPublic(esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub_raw, nullptr, nullptr);
    EsysPtr<TPM2B_PUBLIC> pub(pub_raw);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(esys_error(esys, "TPM2_ReadPublic(0x81000001)", rc));
    if (!matches_template(pub->publicArea)) {
        Esys_TR_Close(esys, &handle);
        return std::optional<Srk>();
    }
    auto name = name_of(esys, handle);
    if (!name) return std::unexpected(name.error());
    return std::optional<Srk>(Srk{ObjectHandle(esys, handle, false), std::move(*name), true, *pub, kSrkPersistentHandle, {}});
}
}  // namespace

ObjectHandle::~ObjectHandle() {
    if (flush_ && esys_ != nullptr && handle_ != ESYS_TR_NONE) Esys_FlushContext(esys_, handle_);
}
void ObjectHandle::flush_now() noexcept {
    if (!flush_ || esys_ == nullptr || handle_ == ESYS_TR_NONE) return;
    Esys_FlushContext(esys_, handle_);
    handle_ = ESYS_TR_NONE;
    flush_ = false;
}
ObjectHandle::ObjectHandle(ObjectHandle&& o) noexcept
    : esys_(o.esys_), handle_(std::exchange(o.handle_, ESYS_TR_NONE)), flush_(std::exchange(o.flush_, false)) {}
ObjectHandle& ObjectHandle::operator=(ObjectHandle&& o) noexcept {
    if (this != &o) {
        if (flush_ && esys_ != nullptr && handle_ != ESYS_TR_NONE) Esys_FlushContext(esys_, handle_);
        esys_ = o.esys_;
        handle_ = std::exchange(o.handle_, ESYS_TR_NONE);
        flush_ = std::exchange(o.flush_, false);
    }
    return *this;
}

TPM2B_PUBLIC srk_template() {
    TPM2B_PUBLIC t{};
    TPMT_PUBLIC& p = t.publicArea;
    p.type = TPM2_ALG_ECC;
    p.nameAlg = TPM2_ALG_SHA256;
    p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                         TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
    p.parameters.eccDetail.symmetric.keyBits.aes = 128;
    p.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    p.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    return t;
}

namespace {
// The transient SRK through SAPI, named by our hash of the public area the TPM returned.
Result<Srk> create_transient_srk(TpmContext& tpm) {
    auto sys_or = sys_context(tpm);
    if (!sys_or) return std::unexpected(sys_or.error());
    TSS2_SYS_CONTEXT* sys = *sys_or;
    const TSS2L_SYS_AUTH_COMMAND owner = password_auth();
    const TPM2B_SENSITIVE_CREATE sensitive{};
    const TPM2B_PUBLIC in_public = srk_template();
    const TPM2B_DATA outside{};
    const TPML_PCR_SELECTION creation_pcr{};
    Srk srk;
    TPM2_HANDLE handle = 0;
    TPM2B_CREATION_DATA creation_data{};
    TPM2B_DIGEST creation_hash{};
    TPMT_TK_CREATION ticket{};
    TPM2B_NAME tpm_name{};
    TSS2_RC rc = Tss2_Sys_CreatePrimary(sys, TPM2_RH_OWNER, &owner, &sensitive, &in_public, &outside, &creation_pcr,
                                        &handle, &srk.pub, &creation_data, &creation_hash, &ticket, &tpm_name, nullptr);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm.error("TPM2_CreatePrimary(SRK)", rc));
    srk.created = SysHandle(sys, handle);
    srk.tpm_handle = handle;
    auto name = public_name(srk.pub);
    if (!name) return std::unexpected(name.error());
    srk.name = std::move(*name);
    return srk;
}
}  // namespace

void flush_transient(Srk& srk) noexcept {
    srk.handle.flush_now();
    srk.created.flush_now();
}

Result<Srk> load_srk(TpmContext& tpm, bool persist, const Bytes* expected_name) {
    ESYS_CONTEXT* esys = tpm.esys();
    auto existing = persistent_srk(tpm, expected_name);
    if (!existing) return std::unexpected(existing.error());
    if (*existing) return std::move(**existing);
    if (expected_name != nullptr && !persist) return create_transient_srk(tpm);

    TPM2B_SENSITIVE_CREATE sensitive{};
    TPM2B_PUBLIC in_public = srk_template();
    TPM2B_DATA outside{};
    TPML_PCR_SELECTION creation_pcr{};
    ESYS_TR handle = ESYS_TR_NONE;
    TPM2B_PUBLIC* out_raw = nullptr;
    TSS2_RC rc = Esys_CreatePrimary(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive,
                                    &in_public, &outside, &creation_pcr, &handle, &out_raw, nullptr, nullptr, nullptr);
    EsysPtr<TPM2B_PUBLIC> out_public(out_raw);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(esys_error(tpm.esys(), "TPM2_CreatePrimary(SRK)", rc));
    ObjectHandle transient(esys, handle, true);
    // The name from the public area the TPM returned, hashed here: Esys_TR_GetName
    // would hash it again in a new OpenSSL library context (tpm2-tss 3.2), which
    // costs more than the hash under TCG.
    auto name = public_name(*out_public);
    if (!name) return std::unexpected(name.error());
    if (!persist) {
        TPM2_HANDLE tpm_handle = 0;
        if (rc = Esys_TR_GetTpmHandle(esys, handle, &tpm_handle); rc != TSS2_RC_SUCCESS) {
            return std::unexpected(esys_error(esys, "reading the SRK's TPM handle", rc));
        }
        return Srk{std::move(transient), std::move(*name), false, *out_public, tpm_handle, {}};
    }

    ESYS_TR persistent = ESYS_TR_NONE;
    rc = Esys_EvictControl(esys, ESYS_TR_RH_OWNER, handle, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                           kSrkPersistentHandle, &persistent);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(esys_error(tpm.esys(), "TPM2_EvictControl(SRK to 0x81000001)", rc));
    return Srk{ObjectHandle(esys, persistent, false), std::move(*name), true, *out_public, kSrkPersistentHandle, {}};
}

Result<ESYS_TR> esys_handle(TpmContext& tpm, const Srk& srk) {
    if (srk.handle.get() != ESYS_TR_NONE) return srk.handle.get();
    ESYS_CONTEXT* esys = tpm.esys();
    ESYS_TR handle = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(esys, srk.tpm_handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &handle);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(esys_error(esys, "looking up the persistent SRK 0x81000001", rc));
    ObjectHandle opened(esys, handle, false);
    auto name = name_of(esys, handle);
    if (!name) return std::unexpected(name.error());
    if (*name != srk.name) {
        return fail(ErrorCode::Tampered, "the key at 0x81000001 changed while in use: it is no longer the storage "
                                         "root key " + to_hex(srk.name));
    }
    srk.handle = std::move(opened);
    return handle;
}

}  // namespace cvmunlock::tpm
