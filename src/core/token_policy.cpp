#include "cvmunlock/token_policy.hpp"

#include <algorithm>

#include "cvmunlock/sealed_secret.hpp"

namespace cvmunlock {

std::vector<std::uint32_t> policy_pcrs(const CvmToken& token) {
    std::vector<std::uint32_t> all = token.pcrs;
    if (token.lock_pcr) all.push_back(*token.lock_pcr);
    std::sort(all.begin(), all.end());
    return all;
}

Result<Bytes> branch_policy(HashAlg bank, const PcrBranch& values) {
    return policy_pcr(kPolicyAlg, policy_initial(kPolicyAlg), {{bank, values}});
}

Result<std::vector<Bytes>> or_branches(HashAlg bank, const std::vector<PcrBranch>& branches) {
    if (branches.empty() || branches.size() > kMaxPolicyBranches) {
        return fail(ErrorCode::InvalidInput, "a policy needs 1.." + std::to_string(kMaxPolicyBranches) +
                                                 " branches, not " + std::to_string(branches.size()));
    }
    std::vector<Bytes> out;
    if (branches.size() == 1) return out;
    for (const auto& b : branches) {
        auto d = branch_policy(bank, b);
        if (!d) return std::unexpected(d.error());
        out.push_back(std::move(*d));
    }
    return out;
}

Result<Bytes> authorized_policy(HashAlg bank, const std::vector<PcrBranch>& branches) {
    auto list = or_branches(bank, branches);
    if (!list) return std::unexpected(list.error());
    if (list->empty()) return branch_policy(bank, branches.front());
    return policy_or(kPolicyAlg, *list);
}

Result<Bytes> sealed_object_policy(const CvmToken& token) {
    Result<Bytes> digest = Bytes();
    if (token.nv_policy) {
        digest = policy_authorize_nv(kPolicyAlg, token.nv_policy->name);
    } else if (token.policy_key) {
        digest = policy_authorize(kPolicyAlg, token.policy_key->name, {});
    } else {
        PcrBranch values;
        for (std::uint32_t pcr : policy_pcrs(token)) {
            auto v = token.pcr_values.find(pcr);
            if (v == token.pcr_values.end()) {
                return fail(ErrorCode::InvalidInput, "cvmunlock token: pcr_values has no value for PCR " + std::to_string(pcr));
            }
            values.emplace(pcr, v->second);
        }
        digest = branch_policy(token.pcr_bank, values);
    }
    if (digest && needs_auth_value(token)) digest = policy_auth_value(kPolicyAlg, *digest);
    return digest;
}

}  // namespace cvmunlock
