// The policy index of `enroll --nv-policy` and `cvmunlock update-policy`
// (docs/updates.md): set up at enrollment, rewritten before an update's reboot
// to admit this boot and the predicted next one, and after a successful boot
// to admit only that boot (stale branches are dropped, so an older boot chain
// cannot come back).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cvmunlock/predict.hpp"
#include "cvmunlock/token.hpp"
#include "luks/volume.hpp"
#include "tpm/sealed_object.hpp"
#include "tpm/tpm_context.hpp"

namespace cvmunlock::engine {

inline constexpr const char* kDefaultStateDir = "/var/lib/cvmunlock";

// Where the writer object of a volume's policy index is kept: on the root
// file system, which the host cannot read.
std::string policy_writer_path(const std::string& state_dir, const std::string& luks_uuid, std::uint32_t index);

// Enrollment: checks that the vTPM implements TPM2_PolicyAuthorizeNV, creates
// the writer object and the index (`wanted` or the first free handle), writes
// the single `branch` and saves the writer file. Returns the token's nv_policy.
// On failure the index is removed again.
Result<NvPolicy> setup_policy_index(tpm::TpmContext& tpm, const tpm::Srk& srk, HashAlg bank, const PcrBranch& branch,
                                    std::optional<std::uint32_t> wanted, const std::string& state_dir,
                                    const std::string& luks_uuid);

// The policy indexes of the --nv-policy tokens among `tokens` (ids), from the
// volume's token list (read before the tokens are removed), except those that
// a cvmunlock token that stays names.
std::vector<std::uint32_t> policy_indexes_of(const std::vector<luks::TokenEntry>& entries, const std::vector<int>& tokens);

// After the tokens that used them were removed (wipe, enroll --wipe-slot): each
// index goes, with its writer file, when this volume's writer file for it is in
// `state_dir` (on the encrypted root: the host cannot plant one) and the index
// is the one that writer writes (so a host-edited token cannot make it remove
// another volume's index). Otherwise both stay. One note per index, saying which.
std::vector<std::string> release_policy_indexes(tpm::TpmContext& tpm, const std::vector<std::uint32_t>& indexes,
                                                const std::string& state_dir, const std::string& luks_uuid);

struct PolicyUpdateRequest {
    std::string device;
    std::string tcti;
    tpm::TpmLimits limits;
    std::optional<int> token;               // default: the volume's only --nv-policy token
    std::string state_dir = kDefaultStateDir;
    std::string eventlog_path;               // this boot's log (predictions and refusal hints)
    BootUpdates updates;                     // empty: admit only this boot
};

struct PolicyUpdateReport {
    int token = -1;
    std::uint32_t index = 0;
    PcrBranch current;                 // this boot's values (lock PCR at its boot value)
    std::optional<PcrBranch> predicted;  // the next boot's, when it differs
    std::vector<ReplacedEvent> replaced;
    std::size_t dropped = 0;           // branches the index admitted before and no longer does
    bool written = false;              // false: the index already admitted exactly these branches
};

// nullopt: the volume has no --nv-policy token (none with id rq.token): nothing to update.
Result<std::optional<PolicyUpdateReport>> update_policy(const PolicyUpdateRequest& rq);

}  // namespace cvmunlock::engine
