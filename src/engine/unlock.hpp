// `cvmunlock unlock` (and the initramfs-tools local-top script through it):
// snapshot the header into a sealed memfd, check it, unseal, bind the volume
// key, and activate from that same snapshot (or only test).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cvmunlock/luks2_header.hpp"
#include "luks/header_snapshot.hpp"
#include "luks/volume.hpp"
#include "reason.hpp"
#include "unseal.hpp"

namespace cvmunlock::engine {

// crypttab's activation options (discard, readonly, the dm-crypt perf flags).
using ActivationOptions = luks::ActivationOptions;

struct UnlockRequest {
    std::string device;
    std::string tcti;
    tpm::TpmLimits limits;
    std::optional<std::string> name;   // dm name to activate; nullopt: test only
    ActivationOptions activation;
    Luks2Policy header_policy;
    std::string eventlog_path;         // replayed on a refusal to name the event; may be missing
    PinSource pin;
    bool return_passphrase = false;    // --key-to-stdout: hand the checked keyslot passphrase back
    SnpGateConfig snp;                 // trust anchors and VCEK fallbacks for tokens that require SEV-SNP
    std::vector<std::string> policy_signatures{kDefaultPolicySignatureDir};  // for --policy-key tokens
};

struct Unlocked {
    int token = -1;
    int keyslot = -1;
    std::optional<SnpVerdict> snp;
    SecretBuffer passphrase;  // with return_passphrase
};

// Unlocks with the first token that opens: tokens without a PIN first, then
// PIN tokens whose PCRs still match (the PIN is asked for only then). On a
// refusal, the most relevant one (reason.hpp), with one line per other token.
// `tpm_commands` receives the command codes sent, whatever the outcome.
Decision<Unlocked> unlock_volume(const UnlockRequest& request, std::vector<std::uint32_t>* tpm_commands = nullptr);

// The snapshot unlock_volume takes: both header copies and the keyslot areas
// of the keyslots that cvmunlock tokens name (what the checks and the keyslot
// open read), in a sealed memfd of the metadata's full size.
Result<luks::HeaderSnapshot> take_unlock_snapshot(const std::string& device);

// unlock_volume from a snapshot already taken (checks and activation use its bytes only).
Decision<Unlocked> unlock_from_snapshot(const luks::HeaderSnapshot& snapshot, const UnlockRequest& request,
                                        std::vector<std::uint32_t>* tpm_commands = nullptr);

// Tries `tokens` (already checked against `volume`'s header) in that order.
// With `volume_key`, each token's keyslot is opened and the key returned there;
// without it, a version 2 token's binding is checked without opening the
// keyslot (bind_volume_key): for the token plugin, whose caller opens it.
Decision<Unlocked> open_with_tokens(luks::Volume& volume, const std::vector<FoundToken>& tokens, UnsealContext& ctx,
                                    SecretBuffer* volume_key);

// "TPM2_CC_Unseal" for each command code, as the JSON reports name them.
std::vector<std::string> tpm_command_json_names(const std::vector<std::uint32_t>& codes);

}  // namespace cvmunlock::engine
