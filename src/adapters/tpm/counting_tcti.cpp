#include "counting_tcti.hpp"

#include <cstddef>

namespace cvmunlock::tpm {

namespace {
constexpr std::uint64_t kMagic = 0x6376'6d75'6e6c'636bULL;  // "cvmunlck"
// TPM 2.0 Part 1, 18.2: tag(2) size(4) commandCode(4).
constexpr std::size_t kCommandCodeOffset = 6;

CountingTcti::State* state_of(TSS2_TCTI_CONTEXT* ctx) { return reinterpret_cast<CountingTcti::State*>(ctx); }

TSS2_RC transmit(TSS2_TCTI_CONTEXT* ctx, size_t size, const uint8_t* command) {
    auto* s = state_of(ctx);
    if (size >= kCommandCodeOffset + 4) {
        const uint8_t* p = command + kCommandCodeOffset;
        s->codes.push_back((std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3]);
    }
    return Tss2_Tcti_Transmit(s->inner, size, command);
}
TSS2_RC receive(TSS2_TCTI_CONTEXT* ctx, size_t* size, uint8_t* response, int32_t timeout) {
    return Tss2_Tcti_Receive(state_of(ctx)->inner, size, response, timeout);
}
void finalize(TSS2_TCTI_CONTEXT*) {}  // the owner finalizes the inner TCTI
TSS2_RC cancel(TSS2_TCTI_CONTEXT* ctx) { return Tss2_Tcti_Cancel(state_of(ctx)->inner); }
TSS2_RC poll_handles(TSS2_TCTI_CONTEXT* ctx, TSS2_TCTI_POLL_HANDLE* handles, size_t* num) {
    return Tss2_Tcti_GetPollHandles(state_of(ctx)->inner, handles, num);
}
TSS2_RC set_locality(TSS2_TCTI_CONTEXT* ctx, uint8_t locality) {
    return Tss2_Tcti_SetLocality(state_of(ctx)->inner, locality);
}
TSS2_RC make_sticky(TSS2_TCTI_CONTEXT* ctx, TPM2_HANDLE* handle, uint8_t sticky) {
    return Tss2_Tcti_MakeSticky(state_of(ctx)->inner, handle, sticky);
}
}  // namespace

CountingTcti::CountingTcti(TSS2_TCTI_CONTEXT* inner) noexcept : state_{} {
    state_.common.v1.magic = kMagic;
    state_.common.v1.version = 2;
    state_.common.v1.transmit = transmit;
    state_.common.v1.receive = receive;
    state_.common.v1.finalize = finalize;
    state_.common.v1.cancel = cancel;
    state_.common.v1.getPollHandles = poll_handles;
    state_.common.v1.setLocality = set_locality;
    state_.common.makeSticky = make_sticky;
    state_.inner = inner;
}

}  // namespace cvmunlock::tpm
