#include "unseal.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "../adapters/file/read_file.hpp"
#include "cvmunlock/policy_key.hpp"
#include "cvmunlock/token_policy.hpp"
#include "tpm/policy_index.hpp"
#include "tpm/sealed_object.hpp"
#include "tpm/srk.hpp"

namespace cvmunlock::engine {

namespace {
Refusal with_token(Refusal r, int token_id) {
    r.token = token_id;
    return r;
}

}  // namespace

// The token is host-writable: its policy digest must be the sealed object's,
// and its own fields (PCR values or policy index or policy key, PIN, SEV-SNP
// object) must give that digest (sealed_object_policy). With PCR values the
// vTPM enforces exactly those; a policy index's branch list is checked by
// the vTPM at unseal (and by update-policy against the index).
std::optional<Refusal> check_token_consistency(const CvmToken& token, int token_id) {
    auto object = tpm::object_policy(token.tpm_public);
    if (!object) return with_token(refusal_from(object.error(), Reason::HeaderAltered), token_id);
    if (*object != token.policy_digest) {
        return with_token(refuse(Reason::HeaderAltered, "the sealed object's policy is not the token's policy: the "
                                                        "header was altered").error(), token_id);
    }
    auto described = sealed_object_policy(token);
    if (!described || *described != *object) {
        return with_token(refuse(Reason::HeaderAltered,
                                 "the token's PCR values, PIN or SEV-SNP requirement do not give the policy the "
                                 "object was sealed with: the header was altered").error(), token_id);
    }
    return std::nullopt;
}

namespace {
// The policy signature of the token's key for exactly these PCR values
// (sealed PCRs and lock PCR, as the vTPM has them now), and how many of the
// key's signatures were seen. Unreadable or malformed files are skipped: a
// signature is only a candidate, the vTPM verifies it.
struct SignatureSearch {
    std::optional<PolicySignature> match;
    std::size_t of_key = 0;
};
SignatureSearch find_signature(const CvmToken& token, const PcrValues& current, const std::vector<std::string>& paths) {
    SignatureSearch out;
    auto bank = current.find(token.pcr_bank);
    if (bank == current.end() || !token.policy_key) return out;
    std::vector<std::string> files;
    for (const auto& p : paths) {
        std::error_code ec;
        if (std::filesystem::is_directory(p, ec)) {
            for (const auto& e : std::filesystem::directory_iterator(p, ec)) {
                if (e.path().extension() == ".json") files.push_back(e.path().string());
            }
        } else {
            files.push_back(p);
        }
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        auto bytes = file::read_all(f, 64 * 1024);
        if (!bytes) continue;
        auto sig = policy_signature_from_json(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
        if (!sig || sig->key_name != token.policy_key->name || sig->bank != token.pcr_bank) continue;
        ++out.of_key;
        bool same = sig->values.size() == policy_pcrs(token).size();
        for (std::uint32_t pcr : policy_pcrs(token)) {
            auto now = bank->second.find(pcr);
            auto signed_value = sig->values.find(pcr);
            same = same && now != bank->second.end() && signed_value != sig->values.end() && now->second == signed_value->second;
        }
        if (same && !out.match) out.match = std::move(*sig);
    }
    return out;
}

std::optional<EventLog> load_log(const std::string& path) {
    if (path.empty()) return std::nullopt;
    auto bytes = file::read_all(path);
    if (!bytes) return std::nullopt;
    auto parsed = parse_event_log(*bytes);
    if (!parsed) return std::nullopt;
    return std::move(*parsed);
}

// The token's PCRs as the TPM has them now, against its (consistent) values:
// the refusal with every change and the event that differs, or nullopt.
Decision<std::optional<Refusal>> compare_pcrs_now(const CvmToken& token, int token_id, tpm::TpmContext& tpm,
                                                  const std::string& eventlog_path,
                                                  const std::vector<std::string>& signatures = {kDefaultPolicySignatureDir}) {
    const auto pcrs = policy_pcrs(token);
    auto current = tpm.read_pcrs({{token.pcr_bank, std::set<std::uint32_t>(pcrs.begin(), pcrs.end())}});
    if (!current) return std::unexpected(with_token(refusal_from(current.error(), Reason::PcrChanged), token_id));
    auto log = load_log(eventlog_path);
    auto changes = explain_refusal(token, *current, log ? &*log : nullptr);
    if (changes.empty()) return std::optional<Refusal>();
    if (token.policy_key && find_signature(token, *current, signatures).match) return std::optional<Refusal>();
    if (token.nv_policy) {
        // Any branch the index may admit will do; the first one (this boot's,
        // when the policy was last updated) explains a refusal.
        for (const auto* list : {&token.nv_policy->branches, &token.nv_policy->pending}) {
            for (const PcrBranch& branch : *list) {
                CvmToken as_branch = token;
                as_branch.pcr_values = branch;
                if (explain_refusal(as_branch, *current, nullptr).empty()) return std::optional<Refusal>();
            }
        }
    }
    const bool only_lock = std::all_of(changes.begin(), changes.end(), [](const PcrChange& c) { return c.lock_pcr; });
    Refusal r;
    r.reason = only_lock ? Reason::Locked : Reason::PcrChanged;
    r.message = only_lock ? "the vTPM refuses to unseal: this boot already locked the sealed keys"
                          : "the vTPM refuses to unseal: a sealed PCR changed since enrollment";
    r.token = token_id;
    r.bank = token.pcr_bank;
    r.changes = std::move(changes);
    return std::optional<Refusal>(std::move(r));
}

}  // namespace

Decision<tpm::Srk> enrolled_srk(const CvmToken& token, int token_id, tpm::TpmContext& tpm) {
    auto srk = tpm::load_srk(tpm, false, &token.srk_name);
    if (!srk) return std::unexpected(with_token(refusal_from(srk.error(), Reason::SrkMismatch), token_id));
    if (srk->name != token.srk_name) {
        return std::unexpected(with_token(
            refuse(Reason::SrkMismatch, "the vTPM's storage root key is not the one this volume was enrolled with "
                                        "(another or a reset vTPM): enrolled SRK " + to_hex(token.srk_name) +
                                        ", this vTPM's " + to_hex(srk->name)).error(), token_id));
    }
    return std::move(*srk);
}

namespace {
// The authValue the object was sealed with (requirements_auth_value): PBKDF2
// of the PIN, if any, bound to the token's requirements, if any.
Decision<SecretBuffer> object_auth(const CvmToken& token, int token_id, UnsealContext& ctx) {
    SecretBuffer base;
    if (token.pin) {
        // TPM 2.0 Part 1, 19.8: in lockout the TPM takes no authorization at
        // all; until then every try is the user's to make.
        auto lockout = ctx.tpm.lockout();
        if (!lockout) return std::unexpected(with_token(refusal_from(lockout.error(), Reason::PinLockout), token_id));
        if (lockout->max_tries > 0 && lockout->counter >= lockout->max_tries) {
            return std::unexpected(with_token(
                refuse(Reason::PinLockout,
                       "the vTPM is in dictionary-attack lockout after " + std::to_string(lockout->counter) +
                           " wrong PINs: it takes PINs again once the failure count decays (one every " +
                           std::to_string(lockout->interval) + " s) or after the owner clears it "
                           "(tpm2_dictionarylockout --clear-lockout); meanwhile use the passphrase or recovery key")
                    .error(), token_id));
        }
        std::optional<SecretBuffer> entered = ctx.pin ? ctx.pin() : std::nullopt;
        if (!entered) return std::unexpected(with_token(refuse(Reason::PinNeeded, "this token needs a PIN").error(), token_id));
        auto a = pin_auth_value(*entered, token.pin->salt, token.pin->iterations);
        if (!a) return std::unexpected(with_token(refusal_from(a.error(), Reason::Internal), token_id));
        base = std::move(*a);
    }
    auto auth = requirements_auth_value(base, token_requirements(token));
    if (!auth) return std::unexpected(with_token(refusal_from(auth.error(), Reason::Internal), token_id));
    return std::move(*auth);
}

// The policy session the object needs. With a policy index: PolicyOR over
// the branches the index holds (after an interrupted update-policy, the
// index tells whether the old list or the pending one is in force).
Decision<tpm::UnsealPolicy> unseal_policy(const CvmToken& token, int token_id, UnsealContext& ctx) {
    tpm::TpmContext& tpm = ctx.tpm;
    tpm::UnsealPolicy policy;
    policy.bank = token.pcr_bank;
    policy.pcrs = policy_pcrs(token);
    policy.auth_value = needs_auth_value(token);
    if (token.policy_key) {
        const auto pcrs = policy_pcrs(token);
        auto current = tpm.read_pcrs({{token.pcr_bank, std::set<std::uint32_t>(pcrs.begin(), pcrs.end())}});
        if (!current) return std::unexpected(with_token(refusal_from(current.error(), Reason::PcrChanged), token_id));
        auto found = find_signature(token, *current, ctx.policy_signatures);
        if (!found.match) {
            std::string where;
            for (const auto& p : ctx.policy_signatures) where += (where.empty() ? "" : ", ") + p;
            Refusal r;
            r.reason = Reason::PcrChanged;
            r.token = token_id;
            r.bank = token.pcr_bank;
            r.changes = explain_refusal(token, *current, nullptr);
            r.message = "no policy signature of the token's key admits this boot's PCR values (" +
                        std::to_string(found.of_key) + " signature(s) of that key in " + where +
                        ", none for these values)";
            return std::unexpected(std::move(r));
        }
        auto approved = branch_policy(token.pcr_bank, found.match->values);
        if (!approved) return std::unexpected(with_token(refusal_from(approved.error(), Reason::Internal), token_id));
        policy.signed_policy = tpm::SignedPolicyRef{token.policy_key->public_blob, *approved, found.match->signature};
        return policy;
    }
    if (!token.nv_policy) return policy;
    const NvPolicy& nv = *token.nv_policy;
    const std::vector<PcrBranch>* in_force = &nv.branches;
    if (!nv.pending.empty()) {
        auto held = tpm::read_policy_index(tpm, nv.index);
        auto pending = authorized_policy(token.pcr_bank, nv.pending);
        if (!held) return std::unexpected(with_token(refusal_from(held.error(), Reason::SrkMismatch), token_id));
        if (pending && *pending == *held) in_force = &nv.pending;
    }
    auto list = or_branches(token.pcr_bank, *in_force);
    if (!list) return std::unexpected(with_token(refusal_from(list.error(), Reason::HeaderAltered), token_id));
    policy.or_branches = std::move(*list);
    policy.nv = tpm::PolicyIndexRef{nv.index, nv.name};
    return policy;
}

// The TPM refused the authValue: what it stands for decides the message.
// Without a PIN only an altered SEV-SNP requirement explains it.
Refusal auth_refusal(const CvmToken& token, int token_id, tpm::TpmContext& tpm, const Error& e) {
    if (!token.pin) {
        return with_token(refuse(Reason::HeaderAltered, "the token's SEV-SNP requirement is not the one sealed in "
                                                        "the vTPM: the header was altered (" + e.message + ")",
                                 e.native).error(), token_id);
    }
    std::string message = token.snp ? "wrong PIN, or the token's SEV-SNP requirement is not the one sealed in "
                                      "the vTPM (the header was altered)"
                                    : "wrong PIN";
    message += " (" + e.message + ")";
    if (auto l = tpm.lockout(); l && l->max_tries > l->counter) {
        message += "; " + std::to_string(l->max_tries - l->counter) + " tries left before the vTPM locks out";
    }
    return with_token(refuse(Reason::PinWrong, message, e.native).error(), token_id);
}
}  // namespace

std::optional<Refusal> precheck_token(const CvmToken& token, int token_id, tpm::TpmContext& tpm,
                                      const std::string& eventlog_path) {
    if (auto r = check_token_consistency(token, token_id)) return r;
    auto srk = enrolled_srk(token, token_id, tpm);
    if (!srk) return srk.error();
    auto pcrs = compare_pcrs_now(token, token_id, tpm, eventlog_path);
    if (!pcrs) return pcrs.error();
    return *pcrs;
}

Decision<Unsealed> unseal_token(const CvmToken& token, int token_id, UnsealContext& ctx) {
    if (auto r = check_token_consistency(token, token_id)) return std::unexpected(std::move(*r));
    // The gate's evidence is read before the SRK is loaded (a transient SRK
    // would be saved and reloaded around each of its commands by /dev/tpmrm0);
    // it is judged after the SRK's check, as before.
    std::optional<SnpEvidenceFetch> snp_evidence;
    if (token.snp) snp_evidence = fetch_snp_evidence(*token.snp, ctx.tpm);
    auto srk = enrolled_srk(token, token_id, ctx.tpm);
    if (!srk) return std::unexpected(srk.error());
    if (token.pin) {
        // Whoever types the PIN should not do it for a token that cannot unseal anyway.
        auto pcrs = compare_pcrs_now(token, token_id, ctx.tpm, ctx.eventlog_path, ctx.policy_signatures);
        if (!pcrs) return std::unexpected(pcrs.error());
        if (*pcrs) return std::unexpected(std::move(**pcrs));
    }
    Unsealed out;
    if (token.snp) {
        SnpVerdict verdict;
        auto gate = check_snp(*token.snp, ctx.tpm, *srk, ctx.snp, verdict, &*snp_evidence);
        out.snp = verdict;
        if (!gate) {
            Refusal r = with_token(refusal_from(gate.error(), Reason::SnpRefused), token_id);
            r.snp = std::move(verdict);
            return std::unexpected(std::move(r));
        }
    }
    // A refusal after the gate passed still reports its verdict.
    auto refused = [&out](Refusal r) {
        r.snp = out.snp;
        return std::unexpected(std::move(r));
    };
    auto auth = object_auth(token, token_id, ctx);
    if (!auth) return refused(std::move(auth.error()));
    auto policy = unseal_policy(token, token_id, ctx);
    if (!policy) return refused(std::move(policy.error()));
    auto sealed = tpm::unseal(ctx.tpm, *srk, {token.tpm_public, token.tpm_private}, *policy, *auth);
    if (!sealed) {
        const Error& e = sealed.error();
        if (e.code == ErrorCode::PolicyRefused && tpm::is_auth_failure(e.native)) {
            return refused(auth_refusal(token, token_id, ctx.tpm, e));
        }
        if (e.code == ErrorCode::PolicyRefused && token.policy_key) {
            return refused(with_token(refuse(Reason::PcrChanged, e.message, e.native).error(), token_id));
        }
        if (e.code == ErrorCode::PolicyRefused) {
            auto pcrs = compare_pcrs_now(token, token_id, ctx.tpm, ctx.eventlog_path, ctx.policy_signatures);
            if (!pcrs) return refused(std::move(pcrs.error()));
            if (*pcrs) {
                (*pcrs)->native = e.native;
                return refused(std::move(**pcrs));
            }
            const std::string why = token.nv_policy
                ? "the vTPM's policy index does not admit PCR values the token lists as authorized (the header "
                  "was altered, or the index rewritten): "
                : "the vTPM refused the PCR policy although the PCRs read back as enrolled (they changed while "
                  "unlocking?): ";
            return refused(with_token(refuse(Reason::PcrChanged, why + e.message, e.native).error(), token_id));
        }
        // A policy index that is gone or redefined, or an Unseal answer without the HMAC of the
        // session salted to the enrolled SRK: the vTPM is not the one enrolled with.
        Reason meaning = e.code == ErrorCode::NotFound  ? Reason::SrkMismatch
                         : e.code == ErrorCode::Tampered ? Reason::HeaderAltered
                                                         : Reason::Internal;
        return refused(with_token(refusal_from(e, meaning), token_id));
    }
    auto parts = split_sealed_data(*sealed);
    if (!parts) return refused(with_token(refusal_from(parts.error(), Reason::HeaderAltered), token_id));
    out.parts = std::move(*parts);
    return out;
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
        auto digest = keyslot_digest(metadata, parsed->keyslot);
        out.push_back({n, std::move(*parsed), digest ? std::optional<VolumeKeyDigest>(std::move(*digest)) : std::nullopt});
    }
    return out;
}

}  // namespace cvmunlock::engine
