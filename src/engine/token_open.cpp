#include "token_open.hpp"

#include <cerrno>
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

#include "luks/header_snapshot.hpp"
#include "luks/volume.hpp"
#include "settings.hpp"
#include "unlock.hpp"
#include "volume_check.hpp"

namespace cvmunlock::engine {

namespace {
constexpr const char* kEventLog = "/sys/kernel/security/tpm0/binary_bios_measurements";

// Refusals of this process, per volume UUID and token.
std::mutex memo_mutex;
std::map<std::string, std::map<int, Refusal>> memo;

bool pin_related(Reason r) { return r == Reason::PinNeeded || r == Reason::PinWrong; }

// The plugin's log line starts "token N refused: ": the refusal says which
// token only when it is about another one (the most relevant of several).
TokenOpenResult answer(const Refusal& r, bool final, int called) {
    TokenOpenResult out;
    out.err = final ? reason_info(r.reason).plugin_errno : -ENOENT;
    Refusal unnamed = r;
    if (r.token == called) unnamed.token.reset();
    out.message = unnamed.summary();
    for (const auto& line : r.tried) out.message += "; " + line;
    out.final = final;
    return out;
}

std::vector<Refusal> all_of(const std::map<int, Refusal>& refused) {
    std::vector<Refusal> all;
    for (const auto& [id, r] : refused) all.push_back(r);
    return all;
}

// The vTPM, opened when first needed, with the configured time limits.
class LazyTpm {
public:
    Decision<tpm::TpmContext*> get() {
        if (tpm_) return tpm_.get();
        auto limits = tpm_limits({});
        if (!limits) return std::unexpected(refusal_from(limits.error(), Reason::InvalidInput));
        auto tpm = tpm::TpmContext::open(tpm::resolve_tcti(""), *limits);
        if (!tpm) return std::unexpected(refusal_from(tpm.error(), Reason::Unavailable));
        tpm_ = std::move(*tpm);
        return tpm_.get();
    }

private:
    std::unique_ptr<tpm::TpmContext> tpm_;
};

// Token `self` was refused with `refusal`. A PIN problem asks for a PIN
// (-ENOANO). Otherwise libcryptsetup goes on (-ENOENT) only if another
// cvmunlock token may still open the volume: one that only lacked a PIN, or
// one not tried yet whose SRK and PCRs do not already rule it out. Else the
// most relevant refusal of all ends its token loop.
TokenOpenResult decide(const Refusal& refusal, const std::vector<FoundToken>& tokens, int self,
                       const std::map<int, Refusal>& refused, LazyTpm& lazy) {
    if (pin_related(refusal.reason)) {
        TokenOpenResult r = answer(refusal, false, self);
        r.err = reason_info(refusal.reason).plugin_errno;
        return r;
    }
    if (refusal.reason != Reason::TpmTimeout && refusal.reason != Reason::Unavailable) {
        for (const auto& t : tokens) {
            if (t.id == self) continue;
            if (auto r = refused.find(t.id); r != refused.end()) {
                if (pin_related(r->second.reason)) return answer(refusal, false, self);
                continue;
            }
            auto tpm = lazy.get();
            if (tpm && !precheck_token(t.token, t.id, **tpm, kEventLog)) return answer(refusal, false, self);
        }
    }
    return answer(most_relevant(all_of(refused)), true, self);
}
}  // namespace

TokenOpenResult open_token(crypt_device* cd, int token_id, const std::optional<SecretBuffer>& pin) {
    luks::Volume volume = luks::Volume::borrow(cd);
    auto raw = luks::read_luks2_headers(volume.metadata_device());
    if (!raw) return answer(refusal_from(raw.error(), Reason::HeaderUnacceptable), true, token_id);
    auto tokens = checked_header(*raw, volume, Luks2Policy{});
    if (!tokens) return answer(tokens.error(), true, token_id);
    auto found = std::find_if(tokens->begin(), tokens->end(), [&](const FoundToken& t) { return t.id == token_id; });
    if (found == tokens->end()) {
        TokenOpenResult r;
        r.err = -ENOENT;
        r.message = "token " + std::to_string(token_id) + " is not a valid cvmunlock token of this volume";
        return r;
    }

    std::lock_guard lock(memo_mutex);
    auto& refused = memo[volume.uuid()];
    LazyTpm lazy;
    // Refused earlier in this process (libcryptsetup's second pass, or the
    // call with a PIN): answer as then, without asking the vTPM again, unless
    // a PIN came for a token that needed one.
    if (auto m = refused.find(token_id); m != refused.end() && !(pin && pin_related(m->second.reason))) {
        return decide(m->second, *tokens, token_id, refused, lazy);
    }
    auto tpm = lazy.get();
    if (!tpm) return answer(tpm.error(), true, token_id);
    PinSource source = [&pin]() -> std::optional<SecretBuffer> {
        if (!pin) return std::nullopt;
        return SecretBuffer::copy_of(pin->secret_view());
    };
    UnsealContext ctx{**tpm, source, kEventLog, SnpGateConfig{}};
    auto opened = open_with_tokens(volume, {*found}, ctx, nullptr);
    if (auto stall = (*tpm)->stalled()) opened = std::unexpected(refusal_from(*stall, Reason::TpmTimeout));
    if (opened) {
        refused.erase(token_id);
        TokenOpenResult ok;
        ok.passphrase = std::move(opened->passphrase);
        ok.message = "unsealed from the vTPM (token " + std::to_string(token_id) + ", keyslot " +
                     std::to_string(opened->keyslot) + ")";
        if (opened->snp) ok.message += "; " + opened->snp->summary;
        return ok;
    }
    refused[token_id] = opened.error();
    return decide(opened.error(), *tokens, token_id, refused, lazy);
}

int validate_token_json(const char* json, std::string& why) {
    if (json == nullptr) {
        why = "no JSON";
        return -EINVAL;
    }
    auto t = token_from_json(std::string_view(json));
    if (!t) {
        why = t.error().message;
        return -EINVAL;
    }
    return 0;
}

}  // namespace cvmunlock::engine
