#include "unseal.hpp"

#include <algorithm>
#include <charconv>

#include "../adapters/file/read_file.hpp"
#include "cvmunlock/sealed_secret.hpp"
#include "cvmunlock/tpm_policy.hpp"
#include "tpm/sealed_object.hpp"
#include "tpm/srk.hpp"

namespace cvmunlock::engine {

namespace {
std::vector<std::uint32_t> policy_pcrs(const CvmToken& token) {
    std::vector<std::uint32_t> all = token.pcrs;
    if (token.lock_pcr) all.push_back(*token.lock_pcr);
    std::sort(all.begin(), all.end());
    return all;
}

void explain(tpm::TpmContext& tpm, const CvmToken& token, const std::string& eventlog_path, RefusalDetail* detail) {
    if (detail == nullptr) return;
    detail->bank = token.pcr_bank;
    const auto pcrs = policy_pcrs(token);
    auto current = tpm.read_pcrs({{token.pcr_bank, std::set<std::uint32_t>(pcrs.begin(), pcrs.end())}});
    if (!current) return;
    std::optional<EventLog> log;
    if (!eventlog_path.empty()) {
        if (auto bytes = file::read_all(eventlog_path)) {
            if (auto parsed = parse_event_log(*bytes)) log = std::move(*parsed);
        }
    }
    detail->changes = explain_refusal(token, *current, log ? &*log : nullptr);
}

// The authValue the token claims the object has (requirements_auth_value).
Result<SecretBuffer> object_auth(tpm::TpmContext& tpm, const CvmToken& token, const PinSource& pin) {
    SecretBuffer base;
    if (token.pin) {
        // TPM2 Part 1, 19.8: refuse a try that would put the TPM into lockout
        // (only a PIN-guarded object is subject to dictionary-attack protection).
        auto lockout = tpm.lockout();
        if (!lockout) return std::unexpected(lockout.error());
        if (lockout->max_tries > 0 && lockout->counter + 1 >= lockout->max_tries) {
            return fail(ErrorCode::PolicyRefused, "the vTPM is one failed PIN away from dictionary-attack lockout (" +
                                                      std::to_string(lockout->counter) + " of " +
                                                      std::to_string(lockout->max_tries) + " failures): not trying");
        }
        std::optional<SecretBuffer> entered = pin ? pin() : std::nullopt;
        if (!entered) return fail(ErrorCode::NotFound, "this token needs a PIN");
        auto a = pin_auth_value(*entered, token.pin->salt, token.pin->iterations);
        if (!a) return std::unexpected(a.error());
        base = std::move(*a);
    }
    return requirements_auth_value(base, token_requirements(token));
}

// The TPM refused the authValue: what it stands for decides the message. Without
// a PIN only an altered requirement explains it; with one, either may.
Error auth_refusal(tpm::TpmContext& tpm, const CvmToken& token, const Error& tpm_error) {
    const std::string why = "(" + tpm_error.message + ")";
    if (!token.pin) {
        return Error(ErrorCode::Tampered,
                     "the token's SEV-SNP requirement is not the one sealed in the vTPM: the header was altered " + why,
                     tpm_error.native);
    }
    std::string message = token.snp ? "wrong PIN, or the token's SEV-SNP requirement is not the one sealed in the "
                                      "vTPM (the header was altered) " + why
                                    : "wrong PIN " + why;
    if (auto l = tpm.lockout(); l && l->max_tries > l->counter) {
        message += "; " + std::to_string(l->max_tries - l->counter) + " tries left before lockout";
    }
    return Error(ErrorCode::PolicyRefused, message, tpm_error.native);
}

// After a policy refusal: does the object's policy differ from the token's only
// in PolicyAuthValue? Then the token's "pin"/"snp" objects were removed or
// added by whoever wrote the header, and the PCRs are not to blame.
bool auth_requirement_altered(const CvmToken& token, const Bytes& object_policy) {
    auto pcr_only = policy_pcr(HashAlg::Sha256, policy_initial(HashAlg::Sha256), {{token.pcr_bank, token.pcr_values}});
    if (!pcr_only) return false;
    if (!needs_auth_value(token)) {
        auto with_auth = policy_auth_value(HashAlg::Sha256, *pcr_only);
        return with_auth && *with_auth == object_policy;
    }
    return *pcr_only == object_policy;
}
}  // namespace

Result<SealedParts> unseal_token(tpm::TpmContext& tpm, const CvmToken& token, const PinSource& pin,
                                 const std::string& eventlog_path, RefusalDetail* detail,
                                 const SnpGateConfig& snp_config) {
    auto srk = tpm::load_srk(tpm, false, &token.srk_name);
    if (!srk) return std::unexpected(srk.error());
    if (srk->name != token.srk_name) {
        return fail(ErrorCode::PolicyRefused,
                    "the vTPM's storage root key is not the one this volume was enrolled with (another or a reset "
                    "vTPM): enrolled SRK " + to_hex(token.srk_name) + ", this vTPM's " + to_hex(srk->name));
    }
    auto object_policy = tpm::object_policy(token.tpm_public);
    if (!object_policy) return std::unexpected(object_policy.error());
    if (*object_policy != token.policy_digest) {
        return fail(ErrorCode::Tampered, "cvmunlock token: the sealed object's policy differs from the token's policy");
    }
    if (token.snp) {
        SnpVerdict verdict;
        auto gate = check_snp(*token.snp, tpm, *srk, snp_config, verdict);
        if (detail != nullptr) detail->snp = verdict;
        if (!gate) return std::unexpected(gate.error());
    }
    auto auth = object_auth(tpm, token, pin);
    if (!auth) return std::unexpected(auth.error());
    tpm::UnsealPolicy policy{token.pcr_bank, policy_pcrs(token), needs_auth_value(token)};
    auto sealed = tpm::unseal(tpm, *srk, {token.tpm_public, token.tpm_private}, policy, *auth);
    if (!sealed) {
        const Error& e = sealed.error();
        if (e.code == ErrorCode::PolicyRefused && tpm::is_auth_failure(e.native)) {
            return std::unexpected(auth_refusal(tpm, token, e));
        }
        if (e.code == ErrorCode::PolicyRefused && auth_requirement_altered(token, *object_policy)) {
            const std::string what = needs_auth_value(token)
                                         ? "the token names a PIN or an SEV-SNP requirement that the object was not "
                                           "sealed with"
                                         : "the sealed object requires an authorization value (a PIN or an SEV-SNP "
                                           "requirement) that the token does not name";
            return fail(ErrorCode::Tampered, what + ": the header was altered (" + e.message + ")", e.native);
        }
        if (e.code == ErrorCode::PolicyRefused) explain(tpm, token, eventlog_path, detail);
        return std::unexpected(e);
    }
    return split_sealed_data(*sealed);
}

Result<std::vector<FoundToken>> cvmunlock_tokens(const nlohmann::json& metadata) {
    std::vector<FoundToken> out;
    if (!metadata.contains("tokens") || !metadata["tokens"].is_object()) return out;
    for (const auto& [id, tok] : metadata["tokens"].items()) {
        // Host-written JSON: check types before reading (nlohmann's value() throws on a mismatch).
        if (!tok.is_object() || !tok.contains("type") || tok["type"] != kTokenType) continue;
        auto parsed = token_from_document(tok);
        if (!parsed) return std::unexpected(parsed.error().context("token " + id));
        int n = -1;
        auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
        if (ec != std::errc() || end != id.data() + id.size() || n < 0) {
            return fail(ErrorCode::InvalidInput, "LUKS2 metadata: token id \"" + id + "\" is not a number");
        }
        out.push_back({n, std::move(*parsed)});
    }
    return out;
}

}  // namespace cvmunlock::engine
