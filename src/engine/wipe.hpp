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
    std::string state_dir = "/var/lib/cvmunlock";  // where enroll --nv-policy kept the policy writers
};

struct WipeReport {
    std::vector<int> tokens;          // removed
    std::vector<int> keyslots;        // destroyed
    std::vector<std::string> kept;    // keyslots a wiped token named but that were kept, and why; the
                                      // policy indexes of wiped --nv-policy tokens, removed or kept
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

// `enroll --wipe-slot`: systemd-cryptenroll's values with its meaning, plus
// "cvmunlock". A keyslot's kind comes from the tokens that name it:
// systemd-tpm2 (tpm2), systemd-fido2, systemd-pkcs11, systemd-recovery
// (recovery), cvmunlock (only for a keyslot shaped like the ones cvmunlock
// makes), none (password); "empty" is a keyslot that opens with an empty
// passphrase; a number is that keyslot; "all" is every keyslot.
struct SlotSelection {
    bool all = false, empty = false, password = false, recovery = false, tpm2 = false, fido2 = false, pkcs11 = false,
         cvmunlock = false;
    std::set<int> keyslots;
    std::string text;  // as given, comma-joined, for messages
};
// InvalidInput naming the word that is none of the values (with the closest one).
Result<SlotSelection> parse_slot_selection(const std::vector<std::string>& values);

struct SlotWipePlan {
    std::vector<int> tokens;      // removed: every token whose keyslots all go (a cvmunlock token always, with "cvmunlock")
    std::vector<int> keyslots;    // destroyed
    std::vector<std::string> kept;
};
// Planned on the metadata before anything is written (keyslots added later are
// never in it). Refuses (PolicyRefused) a selection that would leave no
// keyslot opening without a cvmunlock token; `adds_recovery`: a recovery
// keyslot is about to be added, which counts as one. `marked_recovery`: a
// keyslot that is about to get its systemd-recovery token (enroll opened it
// with a recovery key): it is a recovery keyslot, not a password one.
Result<SlotWipePlan> plan_slot_wipe(luks::Volume& volume, const SlotSelection& selection, bool adds_recovery,
                                    std::optional<int> marked_recovery = std::nullopt);
// Carries out a plan: tokens first, then keyslots.
Result<WipeReport> apply_slot_wipe(luks::Volume& volume, const SlotWipePlan& plan);

}  // namespace cvmunlock::engine
