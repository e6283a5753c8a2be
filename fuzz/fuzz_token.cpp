// libFuzzer target for the cvmunlock token parser (token_from_json): it reads
// host-writable JSON, so it must reject anything malformed without crashing,
// and what it accepts must write back to an equal token and give its policies.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cvmunlock/policy_key.hpp"
#include "cvmunlock/token.hpp"
#include "cvmunlock/token_policy.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cvmunlock;
    using fuzz::require;
    if (size > fuzz::kMaxInputSize) return fuzz::kRejectInput;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    // A sign-policy file is JSON from wherever --policy-signature points: the same rules.
    if (auto sig = policy_signature_from_json(text); sig) {
        auto again = policy_signature_from_json(policy_signature_to_json(*sig).dump());
        require(again.has_value(), "a written policy signature does not read back");
    } else {
        require(sig.error().code == ErrorCode::InvalidInput, "policy signature rejected other than as invalid input");
    }
    auto token = token_from_json(text);
    if (!token) {
        require(token.error().code == ErrorCode::InvalidInput, "token rejected other than as invalid input");
        return 0;
    }
    require(token->keyslot >= 0 && token->keyslot < 32, "accepted a keyslot outside 0..31");
    const auto again = token_from_json(token_to_json(*token).dump());
    require(again.has_value(), "a written token does not read back", again ? "" : again.error().message);
    require(token_to_json(*again) == token_to_json(*token), "token round trip changed it");
    // The policies an accepted token stands for are computed, or refused as invalid input.
    auto sealed = sealed_object_policy(*token);
    require(sealed || sealed.error().code == ErrorCode::InvalidInput, "sealed policy failed other than as invalid input");
    if (token->nv_policy) {
        auto held = authorized_policy(token->pcr_bank, token->nv_policy->branches);
        require(held.has_value(), "an accepted token's branches give no policy", held ? "" : held.error().message);
    }
    return 0;
}
