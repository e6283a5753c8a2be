// Reading a TPM NV index whole (TPM 2.0 Part 3, 31.13 TPM2_NV_ReadPublic and
// 31.13 TPM2_NV_Read), in chunks of at most TPM_PT_NV_BUFFER_MAX bytes.
#pragma once

#include <cstdint>
#include <string>

#include "cvmunlock/bytes.hpp"
#include "tpm_context.hpp"

namespace cvmunlock::tpm {

// TPM_RC_HANDLE (format 1, any handle number) from the TPM: nothing at that handle.
bool is_handle_error(TSS2_RC rc);

// The ESYS_TR of an NV index or persistent object (Esys_TR_FromTPMPublic).
// NotFound with `not_found` when nothing is there. Never closed here: ESAPI hands
// out one shared ESYS_TR per TPM handle, so closing it would invalidate every
// other holder; it lives until the ESYS context is finalized.
Result<ESYS_TR> tpm_resource(TpmContext& tpm, TPM2_HANDLE handle, const std::string& not_found);

struct NvPublic {
    std::uint32_t index = 0;
    std::uint32_t attributes = 0;  // TPMA_NV
    std::uint16_t data_size = 0;
    Bytes name;  // TPM name of the index (nameAlg || H(TPMS_NV_PUBLIC))
};

// NotFound when the index is not defined.
Result<NvPublic> nv_read_public(TpmContext& tpm, std::uint32_t index);

// TPM_PT_NV_BUFFER_MAX (TPM2_GetCapability, TPM_CAP_TPM_PROPERTIES): the largest
// TPM2_NV_Read/Write the TPM accepts in one command.
Result<std::uint32_t> nv_buffer_max(TpmContext& tpm);

// The whole contents. Authorizes with the index itself when TPMA_NV_AUTHREAD is
// set, else with the owner hierarchy when TPMA_NV_OWNERREAD is set, both with an
// empty password. NotFound when the index is not defined or never written;
// PolicyRefused when it is readable only with a policy or by the platform.
Result<Bytes> nv_read_all(TpmContext& tpm, std::uint32_t index);

}  // namespace cvmunlock::tpm
