// The SEV-SNP gate in front of every unseal of a token that requires SNP (and
// of `enroll --snp require`): fetch evidence from the source the token names,
// verify it offline against the trust anchors, evaluate the token's policy and,
// for azure-hcl, bind the vTPM to the report. Any failure refuses with the
// reason; nothing is unsealed before this returns success.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "cvmunlock/snp_policy.hpp"
#include "cvmunlock/snp_source.hpp"
#include "cvmunlock/snp_verify.hpp"
#include "cvmunlock/token.hpp"
#include "tpm/srk.hpp"
#include "tpm/tpm_context.hpp"

#ifndef CVMUNLOCK_SNP_ANCHOR_DIR
#define CVMUNLOCK_SNP_ANCHOR_DIR "/usr/share/cvmunlock/amd-roots"
#endif

namespace cvmunlock::engine {

inline constexpr const char* kShippedAnchorDir = CVMUNLOCK_SNP_ANCHOR_DIR;
inline constexpr const char* kExtraAnchorDir = "/etc/cvmunlock/snp-anchors.d";
inline constexpr const char* kVcekFile = "/etc/cvmunlock/snp/vcek.der";

// Where trust and fallbacks come from; the defaults are the installed paths.
struct SnpGateConfig {
    std::vector<std::string> anchor_dirs{kShippedAnchorDir, kExtraAnchorDir};  // *.pem, *.der, *.crt
    std::string vcek_file = kVcekFile;      // last VCEK source (a file in the initramfs)
    std::vector<std::string> extra_certs;   // certificate files given on the command line (enroll --vcek)
    std::optional<std::time_t> at;          // unset: now
};

struct SnpVerdict {
    snp::EvidenceKind evidence = snp::EvidenceKind::Auto;  // the source actually used
    std::string origin;
    snp::Product product = snp::Product::Unknown;
    snp::CertRole key_role = snp::CertRole::Unknown;
    Bytes vcek;              // DER of the VCEK that verified (empty for a VLEK)
    std::string vcek_from;   // "certificate table", "token", a path
    std::vector<snp::Violation> violations;  // empty when accepted
    bool azure_bound = false;
    std::string summary;     // one line for logs
};

// The AMD roots compiled in, plus every certificate file of the configured
// anchor directories (missing directories are skipped; an unreadable or
// malformed file is an error).
Result<snp::TrustStore> load_trust_store(const SnpGateConfig& config);

// The gate's evidence, read apart from its checks: the unlock reads it before
// it loads the SRK (through /dev/tpmrm0 a loaded transient SRK is saved and
// reloaded around every command). Errors are kept for check_snp, which
// reports them where it would have met them, so refusals keep their order.
struct SnpEvidenceFetch {
    Result<snp::EvidenceKind> kind;
    snp::ReportData nonce{};          // REPORT_DATA asked for; for azure-hcl, the Certify nonce
    Result<snp::Evidence> evidence;
};
SnpEvidenceFetch fetch_snp_evidence(const SnpRequirement& requirement, tpm::TpmContext& tpm);

// Runs the gate for `requirement`, on `fetched` evidence if given (else it is
// fetched here). `srk` is the storage root key the token is sealed under (the
// Azure binding certifies it). Refusals are PolicyRefused or Tampered with a
// message naming the failed check; `verdict` is filled as far as the gate got.
Result<void> check_snp(const SnpRequirement& requirement, tpm::TpmContext& tpm, const tpm::Srk& srk,
                       const SnpGateConfig& config, SnpVerdict& verdict, const SnpEvidenceFetch* fetched = nullptr);

}  // namespace cvmunlock::engine
