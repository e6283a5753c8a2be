// Shared by every front end: from a validated cvmunlock token to the keyslot
// passphrase, through the vTPM, with the SRK and policy checks.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cvmunlock/refusal.hpp"
#include "cvmunlock/sealed_secret.hpp"
#include "cvmunlock/token.hpp"
#include "snp_gate.hpp"
#include "tpm/tpm_context.hpp"

namespace cvmunlock::engine {

// Asked for the PIN only when the token needs one. nullopt: no PIN available (-ENOANO).
using PinSource = std::function<std::optional<SecretBuffer>()>;

struct UnsealOutcome {
    SealedParts parts;
};

struct RefusalDetail {
    HashAlg bank = HashAlg::Sha256;  // the token's policy bank
    std::vector<PcrChange> changes;  // which sealed PCRs changed, and the event when known
    std::optional<SnpVerdict> snp;   // set when the token requires SEV-SNP (accepted or not)
};

// Unseals `token` from `tpm`. A token that requires SEV-SNP passes the SNP gate
// first (check_snp with `snp_config`); nothing is unsealed when it refuses.
// On a PCR-policy refusal, `detail` explains it (current PCRs read from the
// TPM; `eventlog_path` replayed when readable).
Result<SealedParts> unseal_token(tpm::TpmContext& tpm, const CvmToken& token, const PinSource& pin,
                                 const std::string& eventlog_path, RefusalDetail* detail,
                                 const SnpGateConfig& snp_config = SnpGateConfig{});

// Parses and validates every cvmunlock token of a LUKS2 metadata document.
struct FoundToken {
    int id = -1;
    CvmToken token;
};
Result<std::vector<FoundToken>> cvmunlock_tokens(const nlohmann::json& metadata);

// The fixed value `cvmunlock lock` extends into the lock PCR (docs/token-format.md).
inline constexpr const char* kLockMeasurement = "cvmunlock: boot unlock done, sealed keys locked";

}  // namespace cvmunlock::engine
