#include "unseal.hpp"

#include <algorithm>
#include <charconv>

#include "../adapters/file/read_file.hpp"
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

Result<SecretBuffer> pin_auth(tpm::TpmContext& tpm, const CvmToken& token, const PinSource& pin) {
    if (!token.pin) return SecretBuffer();
    // TPM2 Part 1, 19.8: refuse a try that would put the TPM into lockout.
    auto lockout = tpm.lockout();
    if (!lockout) return std::unexpected(lockout.error());
    if (lockout->max_tries > 0 && lockout->counter + 1 >= lockout->max_tries) {
        return fail(ErrorCode::PolicyRefused, "the vTPM is one failed PIN away from dictionary-attack lockout (" +
                                                  std::to_string(lockout->counter) + " of " +
                                                  std::to_string(lockout->max_tries) + " failures): not trying");
    }
    std::optional<SecretBuffer> entered = pin ? pin() : std::nullopt;
    if (!entered) return fail(ErrorCode::NotFound, "this token needs a PIN");
    return pin_auth_value(*entered, token.pin->salt, token.pin->iterations);
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
    auto auth = pin_auth(tpm, token, pin);
    if (!auth) return std::unexpected(auth.error());
    tpm::UnsealPolicy policy{token.pcr_bank, policy_pcrs(token), token.pin.has_value()};
    auto sealed = tpm::unseal(tpm, *srk, {token.tpm_public, token.tpm_private}, policy, *auth);
    if (!sealed) {
        const bool wrong_pin = sealed.error().message.rfind("wrong PIN", 0) == 0;
        if (sealed.error().code == ErrorCode::PolicyRefused && !wrong_pin) explain(tpm, token, eventlog_path, detail);
        if (wrong_pin) {
            if (auto l = tpm.lockout(); l && l->max_tries > l->counter) {
                Error e = sealed.error();
                e.message += "; " + std::to_string(l->max_tries - l->counter) + " tries left before lockout";
                return std::unexpected(e);
            }
        }
        return std::unexpected(sealed.error());
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
