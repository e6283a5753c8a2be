#include "esys_ptr.hpp"
#include "tpm_context.hpp"

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace cvmunlock::tpm {

namespace {

// TCTI-layer failures (no device, connection refused) mean "no TPM here".
bool is_tcti_unavailable(TSS2_RC rc) {
    const TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
    return layer == TSS2_TCTI_RC_LAYER || (rc & 0xFFFF) == TSS2_BASE_RC_IO_ERROR ||
           (rc & 0xFFFF) == TSS2_BASE_RC_NOT_SUPPORTED;
}

void select_pcr(TPML_PCR_SELECTION& sel, HashAlg alg, std::uint32_t pcr) {
    for (std::uint32_t i = 0; i < sel.count; ++i) {
        if (sel.pcrSelections[i].hash == static_cast<TPMI_ALG_HASH>(alg)) {
            sel.pcrSelections[i].pcrSelect[pcr / 8] |= static_cast<BYTE>(1u << (pcr % 8));
            return;
        }
    }
    auto& s = sel.pcrSelections[sel.count++];
    s.hash = static_cast<TPMI_ALG_HASH>(alg);
    s.sizeofSelect = 3;
    std::memset(s.pcrSelect, 0, sizeof s.pcrSelect);
    s.pcrSelect[pcr / 8] = static_cast<BYTE>(1u << (pcr % 8));
}

bool selection_empty(const TPML_PCR_SELECTION& sel) {
    for (std::uint32_t i = 0; i < sel.count; ++i) {
        for (int b = 0; b < sel.pcrSelections[i].sizeofSelect; ++b) {
            if (sel.pcrSelections[i].pcrSelect[b] != 0) return false;
        }
    }
    return true;
}
}  // namespace

std::string resolve_tcti(const std::string& option) {
    if (!option.empty()) return option;
    if (const char* env = std::getenv(kTctiEnv); env != nullptr && *env != '\0') return env;
    return kDefaultTcti;
}

Error tss_error(const std::string& what, std::uint32_t rc) {
    char code[16];
    std::snprintf(code, sizeof code, "0x%08x", rc);
    return Error(is_tcti_unavailable(rc) ? ErrorCode::Unavailable : ErrorCode::Internal,
                 what + ": " + Tss2_RC_Decode(rc) + " (" + code + ")", rc);
}

Result<std::unique_ptr<TpmContext>> TpmContext::open(const std::string& tcti) {
    TSS2_TCTI_CONTEXT* t = nullptr;
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &t);
    if (rc != TSS2_RC_SUCCESS) {
        Error e = tss_error("cannot open TPM through TCTI \"" + tcti + "\"", rc);
        e.code = ErrorCode::Unavailable;
        return std::unexpected(e);
    }
    std::unique_ptr<TpmContext> ctx(new TpmContext(t));
    rc = Esys_Initialize(&ctx->esys_, ctx->counter_->context(), nullptr);
    if (rc != TSS2_RC_SUCCESS) {
        Error err = tss_error("cannot start ESAPI on TCTI \"" + tcti + "\"", rc);
        err.code = ErrorCode::Unavailable;
        return std::unexpected(err);
    }
    return ctx;
}

TpmContext::TpmContext(TSS2_TCTI_CONTEXT* tcti) noexcept
    : tcti_(tcti), counter_(std::make_unique<CountingTcti>(tcti)) {}

TpmContext::~TpmContext() {
    if (esys_ != nullptr) Esys_Finalize(&esys_);
    if (tcti_ != nullptr) Tss2_TctiLdr_Finalize(&tcti_);
}

Result<std::vector<HashAlg>> TpmContext::allocated_banks() {
    TPMI_YES_NO more = TPM2_NO;
    TPMS_CAPABILITY_DATA* raw = nullptr;
    TSS2_RC rc = Esys_GetCapability(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_PCRS, 0, 1,
                                    &more, &raw);
    EsysPtr<TPMS_CAPABILITY_DATA> caps(raw);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(tss_error("TPM2_GetCapability(PCRS)", rc));
    std::vector<HashAlg> banks;
    const TPML_PCR_SELECTION& sel = caps->data.assignedPCR;
    for (std::uint32_t i = 0; i < sel.count; ++i) {
        auto alg = hash_alg_from_id(sel.pcrSelections[i].hash);
        bool any = false;
        for (int b = 0; b < sel.pcrSelections[i].sizeofSelect; ++b) any |= sel.pcrSelections[i].pcrSelect[b] != 0;
        if (alg && any) banks.push_back(*alg);
    }
    return banks;
}

Result<PcrValues> TpmContext::read_pcrs(const PcrSelection& selection) {
    auto banks = allocated_banks();
    if (!banks) return std::unexpected(banks.error());
    TPML_PCR_SELECTION want{};
    for (const auto& [alg, pcrs] : selection) {
        if (std::find(banks->begin(), banks->end(), alg) == banks->end()) continue;
        for (std::uint32_t pcr : pcrs) {
            if (pcr < kPcrCount) select_pcr(want, alg, pcr);
        }
    }
    PcrValues out;
    // A TPM returns at most eight digests per TPM2_PCR_Read: repeat with what is left.
    while (!selection_empty(want)) {
        UINT32 counter = 0;
        TPML_PCR_SELECTION* got_raw = nullptr;
        TPML_DIGEST* values_raw = nullptr;
        TSS2_RC rc = Esys_PCR_Read(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &want, &counter, &got_raw,
                                   &values_raw);
        EsysPtr<TPML_PCR_SELECTION> got(got_raw);
        EsysPtr<TPML_DIGEST> values(values_raw);
        if (rc != TSS2_RC_SUCCESS) return std::unexpected(tss_error("TPM2_PCR_Read", rc));
        if (values->count == 0) return fail(ErrorCode::Internal, "TPM2_PCR_Read returned no values");
        std::uint32_t k = 0;
        for (std::uint32_t i = 0; i < got->count; ++i) {
            const auto& s = got->pcrSelections[i];
            auto alg = hash_alg_from_id(s.hash);
            for (std::uint32_t pcr = 0; pcr < 8u * s.sizeofSelect && pcr < kPcrCount; ++pcr) {
                if ((s.pcrSelect[pcr / 8] & (1u << (pcr % 8))) == 0) continue;
                if (k >= values->count) return fail(ErrorCode::Internal, "TPM2_PCR_Read: fewer digests than selected");
                const TPM2B_DIGEST& d = values->digests[k++];
                if (alg) out[*alg][pcr] = Bytes(d.buffer, d.buffer + d.size);
                for (std::uint32_t j = 0; j < want.count; ++j) {
                    if (want.pcrSelections[j].hash == s.hash) {
                        want.pcrSelections[j].pcrSelect[pcr / 8] &= static_cast<BYTE>(~(1u << (pcr % 8)));
                    }
                }
            }
        }
    }
    return out;
}

Result<TpmContext::Lockout> TpmContext::lockout() {
    TPMI_YES_NO more = TPM2_NO;
    TPMS_CAPABILITY_DATA* raw = nullptr;
    TSS2_RC rc = Esys_GetCapability(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                                    TPM2_PT_LOCKOUT_COUNTER, 3, &more, &raw);
    EsysPtr<TPMS_CAPABILITY_DATA> caps(raw);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(tss_error("TPM2_GetCapability(lockout)", rc));
    Lockout out;
    const auto& props = caps->data.tpmProperties;
    for (std::uint32_t i = 0; i < props.count; ++i) {
        const auto& p = props.tpmProperty[i];
        if (p.property == TPM2_PT_LOCKOUT_COUNTER) out.counter = p.value;
        if (p.property == TPM2_PT_MAX_AUTH_FAIL) out.max_tries = p.value;
        if (p.property == TPM2_PT_LOCKOUT_INTERVAL) out.interval = p.value;
    }
    return out;
}

Result<void> TpmContext::extend(std::uint32_t pcr, const std::vector<EventDigest>& digests) {
    if (pcr >= kPcrCount) return fail(ErrorCode::InvalidInput, "PCR " + std::to_string(pcr) + " is outside 0..23");
    TPML_DIGEST_VALUES values{};
    for (const auto& d : digests) {
        if (values.count >= TPM2_NUM_PCR_BANKS) break;
        auto alg = hash_alg_from_id(d.alg_id);
        if (!alg || d.digest.size() != hash_alg_size(*alg)) continue;
        auto& v = values.digests[values.count++];
        v.hashAlg = d.alg_id;
        std::memcpy(&v.digest, d.digest.data(), d.digest.size());
    }
    TSS2_RC rc = Esys_PCR_Extend(esys_, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &values);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(tss_error("TPM2_PCR_Extend(PCR " + std::to_string(pcr) + ")", rc));
    return {};
}

}  // namespace cvmunlock::tpm
