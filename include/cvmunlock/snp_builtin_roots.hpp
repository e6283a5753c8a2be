// AMD's root certificates (ARK and ASK/ASVK per product and key type), compiled
// into every binary from data/amd-roots, as go-sev-guest does: a report verifies
// from the build tree or from a lone copy of the binary. Installed anchor
// directories add to these, never replace them.
#pragma once

#include <span>
#include <string_view>

namespace cvmunlock::snp {

struct BuiltinAnchor {
    std::string_view name;     // file name in data/amd-roots, e.g. "ask_ark_milan.pem"
    std::string_view product;  // the product it is named after ("milan"), empty if none
    std::string_view pem;
};

std::span<const BuiltinAnchor> builtin_anchors() noexcept;

}  // namespace cvmunlock::snp
