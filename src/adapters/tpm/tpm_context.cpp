#include "tpm_context.hpp"

#include "esys_ptr.hpp"

#include <tss2/tss2_esys.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace cvmunlock::tpm {

namespace {

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

Result<std::unique_ptr<TpmContext>> TpmContext::open(const std::string& tcti, TpmLimits limits) {
    auto guard = GuardedTcti::open(tcti, limits);
    if (!guard) return std::unexpected(guard.error());
    std::unique_ptr<TpmContext> ctx(new TpmContext(std::move(*guard)));
    TSS2_RC rc = Esys_Initialize(&ctx->esys_, ctx->guard_->context(), nullptr);
    if (rc != TSS2_RC_SUCCESS) {
        Error err = ctx->error("cannot start ESAPI on TCTI \"" + tcti + "\"", rc);
        if (err.code != ErrorCode::TimedOut) err.code = ErrorCode::Unavailable;
        return std::unexpected(err);
    }
    return ctx;
}

TpmContext::TpmContext(std::unique_ptr<GuardedTcti> guard) noexcept : guard_(std::move(guard)) {}

TpmContext::~TpmContext() {
    if (esys_ != nullptr) Esys_Finalize(&esys_);
}

std::optional<Error> TpmContext::stalled() const {
    auto stall = stall_message(guard_->context());
    if (!stall) return std::nullopt;
    return Error(ErrorCode::TimedOut, *stall);
}

Error TpmContext::error(const std::string& what, std::uint32_t rc) const {
    if (auto stall = stall_message(guard_->context())) return Error(ErrorCode::TimedOut, what + ": " + *stall, rc);
    return tss_error(what, rc);
}

Result<EsysPtr<TPMS_CAPABILITY_DATA>> TpmContext::capability(TPM2_CAP cap, std::uint32_t property,
                                                             std::uint32_t count, const std::string& what) {
    TPMI_YES_NO more = TPM2_NO;
    TPMS_CAPABILITY_DATA* raw = nullptr;
    TSS2_RC rc = Esys_GetCapability(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, cap, property, count, &more, &raw);
    EsysPtr<TPMS_CAPABILITY_DATA> caps(raw);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(error("TPM2_GetCapability(" + what + ")", rc));
    return caps;
}

Result<std::vector<HashAlg>> TpmContext::allocated_banks() {
    auto caps = capability(TPM2_CAP_PCRS, 0, 1, "PCRS");
    if (!caps) return std::unexpected(caps.error());
    std::vector<HashAlg> banks;
    const TPML_PCR_SELECTION& sel = (*caps)->data.assignedPCR;
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
        if (rc != TSS2_RC_SUCCESS) return std::unexpected(error("TPM2_PCR_Read", rc));
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
    auto caps = capability(TPM2_CAP_TPM_PROPERTIES, TPM2_PT_LOCKOUT_COUNTER, 3, "lockout");
    if (!caps) return std::unexpected(caps.error());
    Lockout out;
    const auto& props = (*caps)->data.tpmProperties;
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
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(error("TPM2_PCR_Extend(PCR " + std::to_string(pcr) + ")", rc));
    return {};
}

}  // namespace cvmunlock::tpm
