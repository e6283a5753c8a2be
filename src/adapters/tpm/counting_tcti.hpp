// A TCTI that forwards to another and records the command code of every TPM
// command sent, so `unlock --test --json` can report the exact round trips.
#pragma once

#include <tss2/tss2_tcti.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace cvmunlock::tpm {

class CountingTcti {
public:
    // Does not own `inner`.
    explicit CountingTcti(TSS2_TCTI_CONTEXT* inner) noexcept;
    TSS2_TCTI_CONTEXT* context() noexcept { return reinterpret_cast<TSS2_TCTI_CONTEXT*>(&state_); }
    [[nodiscard]] const std::vector<std::uint32_t>& command_codes() const noexcept { return state_.codes; }

    struct State {
        TSS2_TCTI_CONTEXT_COMMON_V2 common;  // must stay first: ESAPI sees this as the TCTI
        TSS2_TCTI_CONTEXT* inner;
        std::vector<std::uint32_t> codes;
    };

private:
    State state_;
};

}  // namespace cvmunlock::tpm
