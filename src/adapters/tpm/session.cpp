#include "session.hpp"

namespace cvmunlock::tpm {

Result<Session> Session::start(TpmContext& tpm, const Srk* srk, TPM2_SE type, TPMA_SESSION attrs) {
    ESYS_CONTEXT* esys = tpm.esys();
    TPMT_SYM_DEF sym{};
    sym.algorithm = TPM2_ALG_NULL;
    if (srk != nullptr) {
        sym.algorithm = TPM2_ALG_AES;
        sym.keyBits.aes = 128;
        sym.mode.aes = TPM2_ALG_CFB;
    }
    ESYS_TR salt_key = ESYS_TR_NONE;
    if (srk != nullptr) {
        auto h = esys_handle(tpm, *srk);
        if (!h) return std::unexpected(h.error());
        salt_key = *h;
    }
    ESYS_TR h = ESYS_TR_NONE;
    TSS2_RC rc = Esys_StartAuthSession(esys, salt_key, ESYS_TR_NONE,
                                       ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, nullptr, type, &sym, TPM2_ALG_SHA256, &h);
    if (rc != TSS2_RC_SUCCESS) {
        return std::unexpected(esys_error(esys, srk != nullptr ? "TPM2_StartAuthSession (salted with the SRK)"
                                                               : "TPM2_StartAuthSession", rc));
    }
    Session s(esys, h);
    rc = Esys_TRSess_SetAttributes(esys, h, attrs, 0xFF);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(esys_error(esys, "setting session attributes", rc));
    return s;
}

}  // namespace cvmunlock::tpm
