// Command-line SEV-SNP policy and trust options, shared by `snp verify` and
// `enroll --snp require` so both spell them the same way.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "cvmunlock/snp_policy.hpp"
#include "snp_gate.hpp"

namespace cvmunlock::cli {

struct SnpPolicyOptions {
    bool allow_debug = false, allow_migration_agent = false;
    std::string min_tcb;  // "bl=2,tee=0,snp=5,ucode=68[,fmc=N]"
    std::vector<std::string> measurements, anchors;
    std::optional<std::uint32_t> max_vmpl;
    std::string host_data, id_key_digest, author_key_digest, smt, single_socket;
};

void add_snp_policy_options(CLI::App* cmd, SnpPolicyOptions& o);
// Also the trust options: --snp-anchors DIR (extra anchor directories).
void add_snp_anchor_option(CLI::App* cmd, std::vector<std::string>& dirs, const std::string& name);

// Usage errors name the option ("--min-tcb: ...").
Result<snp::Policy> snp_policy_from_options(const SnpPolicyOptions& o);
// The default anchor directories, plus the extra ones given.
engine::SnpGateConfig snp_gate_config(const std::vector<std::string>& extra_anchor_dirs);

}  // namespace cvmunlock::cli
