// The TPM policies a cvmunlock token stands for, decided once for enroll,
// unseal and update-policy (docs/token-format.md, docs/updates.md).
#pragma once

#include <vector>

#include "cvmunlock/token.hpp"
#include "cvmunlock/tpm_policy.hpp"

namespace cvmunlock {

// The policy hash algorithm of every sealed object and policy index.
inline constexpr HashAlg kPolicyAlg = HashAlg::Sha256;

// Every PCR of the policy, ascending: the sealed PCRs and the lock PCR.
std::vector<std::uint32_t> policy_pcrs(const CvmToken& token);

// PolicyPCR over one branch's values (bank `bank`), from the zero digest.
Result<Bytes> branch_policy(HashAlg bank, const PcrBranch& values);

// The digests a PolicyOR lists for these branches: empty for a single branch
// (no PolicyOR), else one PolicyPCR digest per branch, in order.
Result<std::vector<Bytes>> or_branches(HashAlg bank, const std::vector<PcrBranch>& branches);

// What the policy index holds (as a TPMT_HA): the single branch's PolicyPCR,
// or the PolicyOR of 2..8 branches.
Result<Bytes> authorized_policy(HashAlg bank, const std::vector<PcrBranch>& branches);

// The sealed object's authPolicy: PolicyPCR over pcr_values, or with
// nv_policy PolicyAuthorizeNV on the index's name, or with policy_key
// PolicyAuthorize by that key (empty policyRef); then PolicyAuthValue when
// the token names a PIN or an SEV-SNP requirement (needs_auth_value).
Result<Bytes> sealed_object_policy(const CvmToken& token);

}  // namespace cvmunlock
