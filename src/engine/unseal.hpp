// Shared by every front end: from a validated cvmunlock token to the keyslot
// passphrase, through the vTPM, with the SRK, policy and (for PIN tokens) PCR
// checks first, each refusal typed (reason.hpp).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cvmunlock/sealed_secret.hpp"
#include "cvmunlock/token.hpp"
#include "reason.hpp"
#include "snp_gate.hpp"
#include "tpm/srk.hpp"
#include "tpm/tpm_context.hpp"

namespace cvmunlock::engine {

// Asked for the PIN only when the token needs one and its PCRs still match.
// nullopt: no PIN available.
using PinSource = std::function<std::optional<SecretBuffer>()>;

// Where unlock looks for `sign-policy` files for tokens enrolled with
// --policy-key (the initramfs hooks copy this directory into the initramfs).
inline constexpr const char* kDefaultPolicySignatureDir = "/etc/cvmunlock/policy-signatures";

struct UnsealContext {
    tpm::TpmContext& tpm;
    PinSource pin;                // may be empty: no PIN available
    std::string eventlog_path;    // replayed on a PCR refusal to name the event; may be missing
    SnpGateConfig snp;            // for tokens that require SEV-SNP
    // Signature files or directories of them (*.json), for --policy-key tokens.
    std::vector<std::string> policy_signatures{kDefaultPolicySignatureDir};
};

struct Unsealed {
    SealedParts parts;
    std::optional<SnpVerdict> snp;  // set when the token requires SEV-SNP
};

// Unseals `token` (id `token_id`, for messages). Before the TPM is asked to
// unseal: the SRK must be the enrolled one; the token's PCR values, PIN and
// SEV-SNP requirement must give exactly the sealed object's policy (else the
// header was altered); a PIN token's PCRs must still match (no PIN is asked for
// a token that cannot unseal); a token that requires SEV-SNP passes the gate.
Decision<Unsealed> unseal_token(const CvmToken& token, int token_id, UnsealContext& ctx);

// Cheap check without unsealing (SRK and PCR values against the token's):
// nullopt when the token could unseal now, else why not.
std::optional<Refusal> precheck_token(const CvmToken& token, int token_id, tpm::TpmContext& tpm,
                                      const std::string& eventlog_path);

// The token's policy digest is the sealed object's, and its own fields give
// it (a PIN, an SEV-SNP requirement, PCR values or a policy index): nullopt,
// else the HeaderAltered refusal.
std::optional<Refusal> check_token_consistency(const CvmToken& token, int token_id);

// The vTPM's SRK, which must be the one the token was sealed under.
Decision<tpm::Srk> enrolled_srk(const CvmToken& token, int token_id, tpm::TpmContext& tpm);

// Parses and validates every cvmunlock token of a LUKS2 metadata document.
struct FoundToken {
    int id = -1;
    CvmToken token;
    // The LUKS2 digest that binds the token's keyslot in the same metadata
    // (what a version 2 token's pin is checked against); none when there is none.
    std::optional<VolumeKeyDigest> keyslot_digest;
};
Result<std::vector<FoundToken>> cvmunlock_tokens(const nlohmann::json& metadata);

// The fixed value `cvmunlock lock` extends into the lock PCR (docs/token-format.md).
inline constexpr const char* kLockMeasurement = "cvmunlock: boot unlock done, sealed keys locked";

}  // namespace cvmunlock::engine
