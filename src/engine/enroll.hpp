// `cvmunlock enroll`: seal a fresh secret to the vTPM and add a keyslot and a
// cvmunlock token (and optionally a recovery key) to a LUKS2 volume.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cvmunlock/luks2_header.hpp"
#include "cvmunlock/token.hpp"
#include "luks/volume.hpp"
#include "snp_gate.hpp"
#include "unseal.hpp"
#include "wipe.hpp"

namespace cvmunlock::engine {

struct EnrollRequest {
    std::string device;
    std::string tcti;
    tpm::TpmLimits limits;
    HashAlg bank = HashAlg::Sha256;
    std::vector<std::uint32_t> pcrs{7};
    std::map<std::uint32_t, Bytes> literal_values;  // --pcr-value, override everything else
    std::string predict_from_eventlog;              // --from-eventlog: predicted instead of current values
    std::string eventlog_path;                      // where event digests for the token come from (optional)
    std::optional<std::uint32_t> lock_pcr = 15;
    SecretBuffer unlock_key;                        // opens an existing keyslot
    std::optional<SecretBuffer> pin;
    std::uint32_t pin_iterations = 200000;
    // A recovery key in its own keyslot, marked with a systemd-recovery token
    // and stretched as systemd-cryptenroll does (PBKDF2-SHA512, 1000
    // iterations: a 256-bit random key needs no stretching).
    bool recovery_key = false;
    bool persist_srk = false;
    // --nv-policy: seal under PolicyAuthorizeNV on a new policy index, so
    // `update-policy` can admit a new boot without unsealing (docs/updates.md).
    bool nv_policy = false;
    std::optional<std::uint32_t> nv_index;          // default: the first free handle of the range
    std::string state_dir = "/var/lib/cvmunlock";  // where the index's writer object is kept
    // --policy-key: PEM of an RSA public key; seal under PolicyAuthorize by it (docs/updates.md).
    std::string policy_key_pem;
    std::optional<SlotSelection> wipe_slots;        // --wipe-slot: planned first, carried out after enrolling
    Luks2Policy header_policy;
    std::optional<SnpRequirement> snp;  // --snp require: evidence kind, policy, VCEK (--vcek goes to snp_config)
    SnpGateConfig snp_config;
};

struct EnrollReport {
    int token = -1;
    int keyslot = -1;
    std::optional<int> recovery_keyslot;
    SecretBuffer recovery_key;
    // The unlock key was a recovery key whose keyslot had no token: it got its systemd-recovery token.
    std::optional<int> marked_recovery_keyslot;
    std::vector<int> wiped_tokens;
    std::vector<int> wiped_keyslots;
    std::vector<std::string> wipe_notes;  // keyslots kept by --wipe-slot, and why
    CvmToken enrolled;
    std::optional<SnpVerdict> snp;
};

Result<void> enroll_volume(const EnrollRequest& request, EnrollReport& report);

}  // namespace cvmunlock::engine
