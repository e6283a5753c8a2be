#include "enroll.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "../adapters/file/read_file.hpp"
#include "cvmunlock/policy_key.hpp"
#include "cvmunlock/refusal.hpp"
#include "cvmunlock/sealed_secret.hpp"
#include "cvmunlock/token_policy.hpp"
#include "tpm/sealed_object.hpp"
#include "tpm/srk.hpp"
#include "policy_update.hpp"
#include "wipe.hpp"

namespace cvmunlock::engine {

namespace {
Result<EventLog> load_log(const std::string& path) {
    auto bytes = file::read_all(path);
    if (!bytes) return std::unexpected(bytes.error());
    auto log = parse_event_log(*bytes);
    if (!log) return std::unexpected(log.error().context(path));
    return log;
}

// Values the policy seals to: literal, else predicted from a log, else current.
Result<std::map<std::uint32_t, Bytes>> policy_values(tpm::TpmContext& tpm, const EnrollRequest& rq) {
    std::map<std::uint32_t, Bytes> values;
    std::optional<ReplayResult> predicted;
    if (!rq.predict_from_eventlog.empty()) {
        auto log = load_log(rq.predict_from_eventlog);
        if (!log) return std::unexpected(log.error());
        auto r = replay_event_log(*log);
        if (!r) return std::unexpected(r.error().context(rq.predict_from_eventlog));
        predicted = std::move(*r);
    }
    std::set<std::uint32_t> from_tpm;
    const std::string bank_name(hash_alg_name(rq.bank));
    for (std::uint32_t pcr : rq.pcrs) {
        if (auto lit = rq.literal_values.find(pcr); lit != rq.literal_values.end()) {
            values[pcr] = lit->second;
        } else if (predicted) {
            // A log that does not record the sealing bank, or no event of a
            // sealed PCR, predicts nothing about it: sealing its reset value
            // would lock the volume to a boot that never happens.
            auto bank = predicted->banks.find(rq.bank);
            if (bank == predicted->banks.end()) {
                std::string has;
                for (const auto& [alg, v] : predicted->banks) has += (has.empty() ? "" : ", ") + std::string(hash_alg_name(alg));
                return fail(ErrorCode::NotFound, rq.predict_from_eventlog + ": the event log records no " + bank_name +
                                                     " digests (it has: " + (has.empty() ? "none" : has) +
                                                     "): cannot predict the " + bank_name + " PCRs to seal to");
            }
            auto v = bank->second.find(pcr);
            if (v == bank->second.end()) {
                return fail(ErrorCode::NotFound, rq.predict_from_eventlog + ": the event log has no event for PCR " +
                                                     std::to_string(pcr) + " (" + bank_name +
                                                     "): cannot predict its value; leave it out of --pcrs or give "
                                                     "--pcr-value " + std::to_string(pcr) + ":" + bank_name + "=HEX");
            }
            values[pcr] = v->second;
        } else {
            from_tpm.insert(pcr);
        }
    }
    if (!from_tpm.empty()) {
        auto cur = tpm.read_pcrs({{rq.bank, from_tpm}});
        if (!cur) return std::unexpected(cur.error());
        for (std::uint32_t pcr : from_tpm) {
            if (!(*cur)[rq.bank].contains(pcr)) {
                return fail(ErrorCode::Unavailable, "the vTPM has no " + std::string(hash_alg_name(rq.bank)) + " PCR bank");
            }
            values[pcr] = (*cur)[rq.bank][pcr];
        }
    }
    // The lock PCR is sealed at its boot-time value, before `cvmunlock lock` extends it.
    if (rq.lock_pcr) values[*rq.lock_pcr] = pcr_initial_value(rq.bank, *rq.lock_pcr, std::nullopt);
    return values;
}

// The sealed object's authValue (requirements_auth_value): PBKDF2 of the PIN
// if any, bound to the token's requirements if any. `token` already carries
// its "pin" and "snp" objects; the PIN's salt is drawn here.
Result<SecretBuffer> object_auth(const EnrollRequest& rq, CvmToken& token) {
    SecretBuffer base;
    if (rq.pin) {
        PinKdf kdf{rq.pin_iterations, Bytes(16)};
        if (RAND_bytes(kdf.salt.data(), static_cast<int>(kdf.salt.size())) != 1) return fail(ErrorCode::Internal, "RAND_bytes failed");
        auto a = pin_auth_value(*rq.pin, kdf.salt, kdf.iterations);
        if (!a) return std::unexpected(a.error());
        base = std::move(*a);
        token.pin = std::move(kdf);
    }
    return requirements_auth_value(base, token_requirements(token));
}

// Seals to sealed_object_policy (PolicyPCR or, with --nv-policy,
// PolicyAuthorizeNV), followed by PolicyAuthValue when there is a PIN or an
// SNP requirement; only a PIN makes the object subject to dictionary-attack lockout.
Result<CvmToken> seal_for(tpm::TpmContext& tpm, const tpm::Srk& srk, const EnrollRequest& rq,
                          const SecretBuffer& sealed_data, const std::map<std::uint32_t, Bytes>& values,
                          std::optional<SnpRequirement> snp, std::optional<NvPolicy> nv) {
    CvmToken token;
    token.pcr_bank = rq.bank;
    token.pcrs = rq.pcrs;
    token.lock_pcr = rq.lock_pcr;
    token.pcr_values = values;
    token.snp = std::move(snp);
    token.nv_policy = std::move(nv);
    if (!rq.policy_key_pem.empty()) {
        auto pub = rsa_public_key_to_tpm(rq.policy_key_pem);
        if (!pub) return std::unexpected(pub.error().context("--policy-key"));
        auto name = tpm_object_name(*pub);
        if (!name) return std::unexpected(name.error());
        token.policy_key = PolicyKey{std::move(*pub), std::move(*name)};
    }
    auto auth = object_auth(rq, token);
    if (!auth) return std::unexpected(auth.error());
    auto policy = sealed_object_policy(token);
    if (!policy) return std::unexpected(policy.error());
    token.policy_digest = *policy;

    token.srk_name = srk.name;
    auto blob = tpm::seal(tpm, srk, sealed_data, *policy, *auth, token.pin.has_value());
    if (!blob) return std::unexpected(blob.error());
    token.tpm_public = std::move(blob->public_blob);
    token.tpm_private = std::move(blob->private_blob);
    return token;
}

// `--snp require`: the evidence must pass now (else the volume could never
// unlock with this token); `auto` is resolved and the VCEK that verified is
// cached, so the token names exactly what unlock will use.
Result<std::optional<SnpRequirement>> snp_requirement(tpm::TpmContext& tpm, const tpm::Srk& srk, const EnrollRequest& rq,
                                                      EnrollReport& report) {
    if (!rq.snp) return std::optional<SnpRequirement>();
    SnpRequirement req = *rq.snp;
    SnpVerdict verdict;
    if (auto r = check_snp(req, tpm, srk, rq.snp_config, verdict); !r) {
        return std::unexpected(r.error().context("refusing to enroll with --snp require"));
    }
    req.evidence = verdict.evidence;
    if (!verdict.vcek.empty()) req.vcek = verdict.vcek;
    report.snp = std::move(verdict);
    return std::optional<SnpRequirement>(std::move(req));
}

void record_events(CvmToken& token, const EnrollRequest& rq) {
    const std::string& path = rq.predict_from_eventlog.empty() ? rq.eventlog_path : rq.predict_from_eventlog;
    if (path.empty()) return;
    auto log = load_log(path);
    if (!log) return;  // the log only improves refusal messages
    for (std::uint32_t pcr : token.pcrs) token.events[pcr] = event_digest_prefixes(*log, token.pcr_bank, pcr);
}

// The recovery keyslot as systemd-cryptenroll --recovery-key makes it, then
// its systemd-recovery token (keyslot first: a crash in between leaves a
// working recovery keyslot without its mark, never a token without a slot).
Result<int> add_recovery_keyslot(luks::Volume& volume, const SecretBuffer& vk, const SecretBuffer& key) {
    auto slot = volume.add_keyslot(vk, key.secret_view(), luks::minimal_pbkdf2("sha512"));
    if (!slot) return std::unexpected(slot.error().context("adding the recovery keyslot"));
    const nlohmann::json token{{"type", kRecoveryTokenType}, {"keyslots", {std::to_string(*slot)}}};
    if (auto t = volume.add_token(token.dump()); !t) return std::unexpected(t.error().context("marking the recovery keyslot"));
    return *slot;
}

// A recovery key opened `slot`: give it its systemd-recovery token if no token names it yet.
Result<bool> mark_recovery_keyslot(luks::Volume& volume, int slot) {
    auto tokens = volume.tokens();
    if (!tokens) return std::unexpected(tokens.error());
    for (const auto& t : *tokens) {
        const auto doc = nlohmann::json::parse(t.json, nullptr, false);
        if (!doc.is_object() || !doc.contains("keyslots") || !doc["keyslots"].is_array()) continue;
        for (const auto& k : doc["keyslots"]) {
            if (k == std::to_string(slot)) return false;
        }
    }
    const nlohmann::json token{{"type", kRecoveryTokenType}, {"keyslots", {std::to_string(slot)}}};
    if (auto t = volume.add_token(token.dump()); !t) return std::unexpected(t.error().context("marking recovery keyslot " + std::to_string(slot)));
    return true;
}

struct NewSeal {
    CvmToken token;
    SecretBuffer sealed_data;
};

// Everything enroll asks of the vTPM, in one scope: the SRK (a transient one
// is flushed when it ends) is gone before anything is written to the volume.
Result<NewSeal> seal_new_secret(tpm::TpmContext& tpm, const EnrollRequest& rq, luks::Volume& volume,
                                const VolumeKeyDigest& vk_digest, EnrollReport& report) {
    auto values = policy_values(tpm, rq);
    if (!values) return std::unexpected(values.error());
    auto srk = tpm::load_srk(tpm, rq.persist_srk);
    if (!srk) return std::unexpected(srk.error());
    auto snp = snp_requirement(tpm, *srk, rq, report);
    if (!snp) return std::unexpected(snp.error());
    CvmToken requirements;
    requirements.snp = *snp;
    auto secret = tpm::random_secret(tpm, kSecretSize);
    if (!secret) return std::unexpected(secret.error());
    NewSeal out;
    // Token version 2: the pin binds the volume key's digest (bind_volume_key).
    out.sealed_data = make_sealed_data(*secret, digest_pin(volume.uuid(), vk_digest, token_requirements(requirements)));
    std::optional<NvPolicy> nv;
    if (rq.nv_policy) {
        auto index = setup_policy_index(tpm, *srk, rq.bank, *values, rq.nv_index, rq.state_dir, volume.uuid());
        if (!index) return std::unexpected(index.error().context("--nv-policy"));
        nv = std::move(*index);
    }
    const std::optional<std::uint32_t> index = nv ? std::optional<std::uint32_t>(nv->index) : std::nullopt;
    auto token = seal_for(tpm, *srk, rq, out.sealed_data, *values, std::move(*snp), std::move(nv));
    if (!token) {
        if (index) (void)release_policy_indexes(tpm, {*index}, rq.state_dir, volume.uuid());
        return std::unexpected(token.error());
    }
    out.token = std::move(*token);
    return out;
}

// A policy index enroll defined goes again (with its writer file) if enroll
// fails before the token that uses it is on the volume.
class NewIndexGuard {
public:
    NewIndexGuard(tpm::TpmContext& tpm, const CvmToken& token, const std::string& state_dir, std::string uuid)
        : tpm_(tpm), state_dir_(state_dir), uuid_(std::move(uuid)) {
        if (token.nv_policy) index_ = token.nv_policy->index;
    }
    NewIndexGuard(const NewIndexGuard&) = delete;
    NewIndexGuard& operator=(const NewIndexGuard&) = delete;
    ~NewIndexGuard() {
        if (index_) (void)release_policy_indexes(tpm_, {*index_}, state_dir_, uuid_);
    }
    void keep() { index_.reset(); }

private:
    tpm::TpmContext& tpm_;
    const std::string& state_dir_;
    std::string uuid_;
    std::optional<std::uint32_t> index_;
};
}  // namespace

Result<void> enroll_volume(const EnrollRequest& rq, EnrollReport& report) {
    auto volume = luks::Volume::open(rq.device);
    if (!volume) return std::unexpected(volume.error());
    auto json = volume->metadata_json();
    if (!json) return std::unexpected(json.error());
    const auto metadata = nlohmann::json::parse(*json, nullptr, false);
    if (auto r = validate_luks2_metadata(metadata, rq.header_policy, std::nullopt); !r) {
        return std::unexpected(Error(ErrorCode::PolicyRefused, "refusing to enroll into an unacceptable LUKS2 header: " + r.error().message));
    }
    auto opened = volume->volume_key(rq.unlock_key.secret_view(), -1);
    if (!opened) return std::unexpected(opened.error());
    const SecretBuffer* vk = &opened->volume_key;
    // What --wipe-slot will remove is decided now, before anything is written.
    std::optional<SlotWipePlan> wipe_plan;
    if (rq.wipe_slots) {
        const bool recovery_key_given = looks_like_recovery_key(rq.unlock_key.secret_view());
        auto plan = plan_slot_wipe(*volume, *rq.wipe_slots, rq.recovery_key,
                                   recovery_key_given ? std::optional<int>(opened->keyslot) : std::nullopt);
        if (!plan) return std::unexpected(plan.error());
        wipe_plan = std::move(*plan);
    }
    auto tpm = tpm::TpmContext::open(rq.tcti, rq.limits);
    if (!tpm) return std::unexpected(tpm.error());
    // The digest that libcryptsetup just checked this volume key against.
    auto vk_digest = keyslot_digest(metadata, opened->keyslot);
    if (!vk_digest) return std::unexpected(vk_digest.error());
    auto sealed = seal_new_secret(**tpm, rq, *volume, *vk_digest, report);
    if (!sealed) return std::unexpected(sealed.error());
    // Nothing is written for a vTPM that stopped answering, even at the last flush.
    if (auto stall = (*tpm)->stalled()) return std::unexpected(*stall);
    CvmToken* token = &sealed->token;
    NewIndexGuard new_index(**tpm, *token, rq.state_dir, volume->uuid());
    const SecretBuffer& sealed_data = sealed->sealed_data;
    record_events(*token, rq);
    auto parts = split_sealed_data(sealed_data);
    if (!parts) return std::unexpected(parts.error());

    // Keyslot first, token second: a crash in between leaves an unused keyslot, never a lost volume.
    auto slot = volume->add_keyslot(*vk, parts->passphrase.secret_view(), luks::minimal_pbkdf2(), true);
    if (!slot) return std::unexpected(slot.error());
    token->keyslot = *slot;
    auto id = volume->add_token(token_to_json(*token).dump());
    if (!id) return std::unexpected(id.error());
    new_index.keep();
    report.token = *id;
    report.keyslot = *slot;
    report.enrolled = *token;

    if (rq.recovery_key) {
        auto key = make_recovery_key();
        if (!key) return std::unexpected(key.error());
        auto rslot = add_recovery_keyslot(*volume, *vk, *key);
        if (!rslot) return std::unexpected(rslot.error());
        report.recovery_keyslot = *rslot;
        report.recovery_key = std::move(*key);
    }
    if (looks_like_recovery_key(rq.unlock_key.secret_view())) {
        auto marked = mark_recovery_keyslot(*volume, opened->keyslot);
        if (!marked) return std::unexpected(marked.error());
        if (*marked) report.marked_recovery_keyslot = opened->keyslot;
    }
    if (wipe_plan) {
        auto entries = volume->tokens();
        if (!entries) return std::unexpected(entries.error());
        const std::vector<std::uint32_t> indexes = policy_indexes_of(*entries, wipe_plan->tokens);
        auto wiped = apply_slot_wipe(*volume, *wipe_plan);
        if (!wiped) return std::unexpected(wiped.error().context("--wipe-slot"));
        report.wiped_tokens = wiped->tokens;
        report.wiped_keyslots = wiped->keyslots;
        report.wipe_notes = wiped->kept;
        auto notes = release_policy_indexes(**tpm, indexes, rq.state_dir, volume->uuid());
        report.wipe_notes.insert(report.wipe_notes.end(), notes.begin(), notes.end());
    }
    return {};
}
}  // namespace cvmunlock::engine
