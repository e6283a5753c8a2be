// Removing cvmunlock tokens and their keyslots without ever costing the user
// a way into the volume (`cvmunlock wipe`, `enroll --wipe-slot`).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "luks/volume.hpp"
#include "tpm/guarded_tcti.hpp"

namespace cvmunlock::engine {

// Recovery keys (ours and systemd-cryptenroll's) are 64 modhex characters in
// eight dash-separated groups: the systemd-recovery token marks their keyslots.
inline constexpr const char* kRecoveryTokenType = "systemd-recovery";
bool looks_like_recovery_key(ByteView key);

struct WipeRequest {
    std::optional<int> token;                // only this cvmunlock token; else every one
    std::set<int> keep_tokens;               // never wiped (enroll --wipe-slot: the new token)
    std::optional<SecretBuffer> unlock_key;  // a passphrase or recovery key: the way in that stays
    std::string tcti;                        // without unlock_key: a kept token that still unseals is the way in
    tpm::TpmLimits limits;
    std::string eventlog_path;
};

struct WipeReport {
    std::vector<int> tokens;          // removed
    std::vector<int> keyslots;        // destroyed
    std::vector<std::string> kept;    // keyslots a wiped token named but that were kept, and why
    std::string way_in;               // what still opens the volume
};

// Needs a way in that stays (the unlock key's keyslot, or a kept cvmunlock
// token that unseals now), and never destroys it. A keyslot a wiped token
// names is destroyed only if it looks like one cvmunlock made (PBKDF2-SHA256
// at 1000 iterations, preferred) and no kept token names it; otherwise it is
// kept and said so. Refuses, changing nothing, when no keyslot would be left
// that opens without a cvmunlock token, or when `token` is not a cvmunlock token.
Result<WipeReport> wipe_tokens(luks::Volume& volume, const WipeRequest& request);
// The same on the volume at `device`.
Result<WipeReport> wipe_tokens(const std::string& device, const WipeRequest& request);

}  // namespace cvmunlock::engine
