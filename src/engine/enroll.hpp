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
    bool recovery_key = false;
    // Argon2id benchmarked to 2 s, at most 1 GiB and 4 threads (cryptsetup's defaults).
    luks::Pbkdf recovery_pbkdf{"argon2id", "sha256", 0, 1048576, 4, 2000};
    bool persist_srk = false;
    bool wipe_others = false;                       // --wipe-slot: remove older cvmunlock tokens afterwards
    Luks2Policy header_policy;
    std::optional<SnpRequirement> snp;  // --snp require: evidence kind, policy, VCEK (--vcek goes to snp_config)
    SnpGateConfig snp_config;
};

struct EnrollReport {
    int token = -1;
    int keyslot = -1;
    std::optional<int> recovery_keyslot;
    SecretBuffer recovery_key;
    std::vector<int> wiped_tokens;
    CvmToken enrolled;
    std::optional<SnpVerdict> snp;
};

Result<void> enroll_volume(const EnrollRequest& request, EnrollReport& report);

// Removes cvmunlock tokens (all, or only `token`) and the keyslots they name.
Result<std::vector<int>> wipe_tokens(luks::Volume& volume, std::optional<int> token);

}  // namespace cvmunlock::engine
