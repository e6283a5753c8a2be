#include "reason.hpp"

#include <algorithm>
#include <cerrno>

namespace cvmunlock::engine {

namespace {
// Plugin errnos: libcryptsetup 2.6 (lib/luks2/luks2_token.c) blocks a token that
// returns -ENOANO for the rest of its loop and hands -ENOANO to the caller,
// which asks for a PIN (systemd-cryptsetup, cryptsetup). Any errno other than
// ENOENT, EPERM, EAGAIN and ENOANO ends its token loop at once (EPERM and EINVAL
// from a plugin become ENOENT, which would make it call us again in its second
// priority pass); systemd-cryptsetup and cryptsetup then ask for the passphrase.
// So every refusal ends the loop: the vTPM is asked once per refusal.
constexpr ReasonInfo kTable[] = {
    /* NoToken            */ {"no-token", kExitNoToken, -ENOENT, 0},
    /* HeaderUnacceptable */ {"header-unacceptable", kExitRefused, -EKEYREJECTED, 110},
    /* HeaderAltered      */ {"header-altered", kExitRefused, -EKEYREJECTED, 120},
    /* SnpRefused         */ {"snp-refused", kExitRefused, -EKEYREJECTED, 100},
    /* SrkMismatch        */ {"srk-mismatch", kExitRefused, -EKEYREJECTED, 90},
    /* PcrChanged         */ {"pcr-changed", kExitRefused, -EKEYREJECTED, 80},
    /* Locked             */ {"locked", kExitRefused, -EKEYREJECTED, 70},
    /* PinLockout         */ {"pin-lockout", kExitRefused, -EKEYREJECTED, 60},
    /* PinWrong           */ {"pin-wrong", kExitRefused, -ENOANO, 50},
    /* PinNeeded          */ {"pin-needed", kExitRefused, -ENOANO, 40},
    /* TpmTimeout         */ {"tpm-timeout", kExitUnavailable, -ETIMEDOUT, 30},
    /* Unavailable        */ {"unavailable", kExitUnavailable, -ENODEV, 20},
    /* InvalidInput       */ {"invalid-input", kExitMalformed, -EKEYREJECTED, 10},
    /* Internal           */ {"internal", kExitUnavailable, -EIO, 5},
};
static_assert(std::size(kTable) == static_cast<std::size_t>(Reason::Internal) + 1);
}  // namespace

const ReasonInfo& reason_info(Reason reason) noexcept { return kTable[static_cast<std::size_t>(reason)]; }

std::string Refusal::summary() const {
    std::string s = token ? "token " + std::to_string(*token) + ": " + message : message;
    for (const auto& c : changes) s += "; " + describe_change(c, bank);
    return s;
}

Refusal refusal_from(const Error& error, Reason meaning) {
    Refusal r;
    r.message = error.message;
    r.native = error.native;
    switch (error.code) {
        case ErrorCode::TimedOut: r.reason = Reason::TpmTimeout; break;
        case ErrorCode::Unavailable: r.reason = Reason::Unavailable; break;
        case ErrorCode::InvalidInput: r.reason = Reason::InvalidInput; break;
        case ErrorCode::Internal: r.reason = Reason::Internal; break;
        case ErrorCode::NotFound:
        case ErrorCode::PolicyRefused:
        case ErrorCode::Tampered: r.reason = meaning; break;
    }
    return r;
}

Refusal most_relevant(std::vector<Refusal> refusals) {
    if (refusals.empty()) {
        Refusal none;
        none.reason = Reason::NoToken;
        none.message = "no cvmunlock token in the LUKS2 header";
        return none;
    }
    auto best = std::max_element(refusals.begin(), refusals.end(), [](const Refusal& a, const Refusal& b) {
        return reason_info(a.reason).rank < reason_info(b.reason).rank;
    });
    Refusal out = std::move(*best);
    if (refusals.size() > 1) {
        for (auto& r : refusals) {
            if (&r != &*best) out.tried.push_back(r.summary());
        }
    }
    return out;
}

}  // namespace cvmunlock::engine
