// `cvmunlock unlock`: snapshot the header, validate it, unseal, check the
// volume key against the sealed pin, activate (or only test).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cvmunlock/luks2_header.hpp"
#include "luks/header_snapshot.hpp"
#include "unseal.hpp"

namespace cvmunlock::engine {

struct UnlockRequest {
    std::string device;
    std::string tcti;
    std::optional<std::string> name;  // dm name to activate; nullopt: --test
    Luks2Policy header_policy;
    std::string eventlog_path;        // replayed on a refusal to name the event; may be missing
    PinSource pin;
    bool return_passphrase = false;   // key socket: hand the checked keyslot passphrase back
    SnpGateConfig snp;                // trust anchors and VCEK fallbacks for tokens that require SEV-SNP
};

struct UnlockReport {
    int token = -1;
    int keyslot = -1;
    std::vector<std::uint32_t> tpm_command_codes;
    RefusalDetail refusal;
    std::vector<std::string> tried;  // one line per token that did not open, with the reason
    SecretBuffer passphrase;         // with return_passphrase, after every check passed
};

// Validates the snapshot's metadata; returns the cvmunlock tokens it holds.
Result<std::vector<FoundToken>> validated_tokens(const luks::HeaderSnapshot& snapshot, const Luks2Policy& policy);

// Unlocks `request.device` from an already-taken snapshot of its header.
Result<void> unlock_from_snapshot(const luks::HeaderSnapshot& snapshot, const UnlockRequest& request,
                                  UnlockReport& report);

// Takes the snapshot, then unlock_from_snapshot.
Result<void> unlock_volume(const UnlockRequest& request, UnlockReport& report);

}  // namespace cvmunlock::engine
