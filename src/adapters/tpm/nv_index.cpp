#include "nv_index.hpp"
#include "policy_session.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "esys_ptr.hpp"

namespace cvmunlock::tpm {

bool is_handle_error(TSS2_RC rc) {
    return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && (rc & TPM2_RC_FMT1) != 0 &&
           (rc & 0x3F) == (TPM2_RC_HANDLE & 0x3F);
}

Result<ESYS_TR> tpm_resource(TpmContext& tpm, TPM2_HANDLE handle, const std::string& not_found) {
    ESYS_TR tr = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(tpm.esys(), handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
    if (rc == TSS2_RC_SUCCESS) return tr;
    if (is_handle_error(rc)) return fail(ErrorCode::NotFound, not_found, rc);
    char name[16];
    std::snprintf(name, sizeof name, "0x%08x", handle);
    return std::unexpected(esys_error(tpm.esys(), std::string("looking up TPM handle ") + name, rc));
}

namespace {

std::string index_name(std::uint32_t index) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", index);
    return std::string("NV ") + buf;
}

// Which authorization reads the index with an empty password (Part 2, 13.4 TPMA_NV).
Result<TPM2_HANDLE> read_auth(const NvPublic& pub) {
    if ((pub.attributes & TPMA_NV_AUTHREAD) != 0) return pub.index;
    if ((pub.attributes & TPMA_NV_OWNERREAD) != 0) return TPM2_RH_OWNER;
    char attrs[16];
    std::snprintf(attrs, sizeof attrs, "0x%08x", pub.attributes);
    return fail(
        ErrorCode::PolicyRefused,
        index_name(pub.index) + " is readable neither with its own auth nor by the owner (TPMA_NV " + attrs + ")");
}

// TPM2_NV_ReadPublic through SAPI: one command, and no ESAPI handle (which
// would read the public area again and hash its name). The name is the TPM's.
Result<NvPublic> sys_read_public(TpmContext& tpm, TSS2_SYS_CONTEXT* sys, std::uint32_t index) {
    TPM2B_NV_PUBLIC pub{};
    TPM2B_NAME name{};
    TSS2_RC rc = Tss2_Sys_NV_ReadPublic(sys, index, nullptr, &pub, &name, nullptr);
    if (rc != TSS2_RC_SUCCESS) {
        if (is_handle_error(rc)) return fail(ErrorCode::NotFound, index_name(index) + " is not defined", rc);
        return std::unexpected(tpm.error("TPM2_NV_ReadPublic(" + index_name(index) + ")", rc));
    }
    NvPublic out;
    out.index = pub.nvPublic.nvIndex;
    out.attributes = pub.nvPublic.attributes;
    out.data_size = pub.nvPublic.dataSize;
    out.name.assign(name.name, name.name + name.size);
    return out;
}
}  // namespace

Result<NvPublic> nv_read_public(TpmContext& tpm, std::uint32_t index) {
    auto sys = sys_context(tpm);
    if (!sys) return std::unexpected(sys.error());
    return sys_read_public(tpm, *sys, index);
}

Result<std::uint32_t> nv_buffer_max(TpmContext& tpm) {
    auto caps = tpm.capability(TPM2_CAP_TPM_PROPERTIES, TPM2_PT_NV_BUFFER_MAX, 1, "TPM_PT_NV_BUFFER_MAX");
    if (!caps) return std::unexpected(caps.error());
    const auto& props = (*caps)->data.tpmProperties;
    if (props.count == 0 || props.tpmProperty[0].property != TPM2_PT_NV_BUFFER_MAX || props.tpmProperty[0].value == 0) {
        return fail(ErrorCode::Internal, "TPM2_GetCapability did not report TPM_PT_NV_BUFFER_MAX");
    }
    // TPM2B_MAX_NV_BUFFER bounds what ESAPI can carry, whatever the TPM says.
    return std::min<std::uint32_t>(props.tpmProperty[0].value, TPM2_MAX_NV_BUFFER_SIZE);
}

Result<Bytes> nv_read_all(TpmContext& tpm, std::uint32_t index) {
    auto sys = sys_context(tpm);
    if (!sys) return std::unexpected(sys.error());
    auto pub = sys_read_public(tpm, *sys, index);
    if (!pub) return std::unexpected(pub.error());
    if ((pub->attributes & TPMA_NV_WRITTEN) == 0) {
        return fail(ErrorCode::NotFound, index_name(index) + " is defined but was never written");
    }
    auto auth = read_auth(*pub);
    if (!auth) return std::unexpected(auth.error());
    auto chunk_max = nv_buffer_max(tpm);
    if (!chunk_max) return std::unexpected(chunk_max.error());

    const TSS2L_SYS_AUTH_COMMAND password = password_auth();
    Bytes out;
    out.reserve(pub->data_size);
    while (out.size() < pub->data_size) {
        const auto offset = static_cast<std::uint16_t>(out.size());
        const auto want = static_cast<std::uint16_t>(std::min<std::size_t>(*chunk_max, pub->data_size - out.size()));
        TPM2B_MAX_NV_BUFFER data{};
        TSS2_RC rc = Tss2_Sys_NV_Read(*sys, *auth, index, &password, want, offset, &data, nullptr);
        if (rc != TSS2_RC_SUCCESS) {
            return std::unexpected(tpm.error("TPM2_NV_Read(" + index_name(index) + ", offset " + std::to_string(offset) +
                                                 ", " + std::to_string(want) + " bytes)", rc));
        }
        if (data.size != want) {
            return fail(ErrorCode::Internal, "TPM2_NV_Read(" + index_name(index) + ") returned " +
                                                 std::to_string(data.size) + " bytes at offset " +
                                                 std::to_string(offset) + ", asked " + std::to_string(want));
        }
        out.insert(out.end(), data.buffer, data.buffer + data.size);
    }
    return out;
}

}  // namespace cvmunlock::tpm
