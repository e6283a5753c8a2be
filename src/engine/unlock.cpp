#include "unlock.hpp"

#include <algorithm>

#include "tpm/tpm_names.hpp"
#include "volume_check.hpp"

namespace cvmunlock::engine {

Decision<Unlocked> open_with_tokens(luks::Volume& volume, const std::vector<FoundToken>& tokens, UnsealContext& ctx,
                                    SecretBuffer* volume_key) {
    // No-PIN tokens first: a PIN is asked for only when nothing else opens.
    std::vector<const FoundToken*> order;
    for (const auto& t : tokens) order.push_back(&t);
    std::stable_partition(order.begin(), order.end(), [](const FoundToken* t) { return !t->token.pin; });
    std::vector<Refusal> refusals;
    for (const FoundToken* found : order) {
        auto unsealed = unseal_token(found->token, found->id, ctx);
        if (!unsealed) {
            refusals.push_back(std::move(unsealed.error()));
            continue;
        }
        auto key = bind_volume_key(volume, *found, unsealed->parts, volume_key != nullptr);
        if (!key) {
            refusals.push_back(std::move(key.error()));
            continue;
        }
        Unlocked out;
        out.token = found->id;
        out.keyslot = found->token.keyslot;
        out.snp = std::move(unsealed->snp);
        out.passphrase = std::move(unsealed->parts.passphrase);
        if (volume_key != nullptr) *volume_key = std::move(*key);
        return out;
    }
    return std::unexpected(most_relevant(std::move(refusals)));
}

namespace {
// The keyslot areas of the keyslots that the cvmunlock tokens of `headers`
// name. Anything malformed is left out: checked_header refuses it afterwards.
std::vector<luks::SnapshotArea> token_keyslot_areas(ByteView headers) {
    std::vector<luks::SnapshotArea> out;
    auto header = parse_luks2_header(headers);
    if (!header) return out;
    const auto& metadata = header->active().metadata;
    auto tokens = cvmunlock_tokens(metadata);
    if (!tokens) return out;
    for (const auto& t : *tokens) {
        if (auto area = luks2_keyslot_area(metadata, t.token.keyslot)) out.push_back({area->offset, area->size});
    }
    return out;
}
}  // namespace

Result<luks::HeaderSnapshot> take_unlock_snapshot(const std::string& device) {
    return luks::HeaderSnapshot::take(device, token_keyslot_areas);
}

Decision<Unlocked> unlock_volume(const UnlockRequest& rq, std::vector<std::uint32_t>* tpm_commands) {
    auto snapshot = take_unlock_snapshot(rq.device);
    if (!snapshot) return std::unexpected(refusal_from(snapshot.error().context("reading " + rq.device), Reason::HeaderUnacceptable));
    return unlock_from_snapshot(*snapshot, rq, tpm_commands);
}

Decision<Unlocked> unlock_from_snapshot(const luks::HeaderSnapshot& snapshot, const UnlockRequest& rq,
                                        std::vector<std::uint32_t>* tpm_commands) {
    auto volume = luks::Volume::open_detached(snapshot.path(), rq.device);
    if (!volume) return std::unexpected(refusal_from(volume.error(), Reason::HeaderUnacceptable));
    auto tokens = checked_header(snapshot.bytes(), *volume, rq.header_policy);
    if (!tokens) return std::unexpected(tokens.error());
    auto tpm = tpm::TpmContext::open(rq.tcti, rq.limits);
    if (!tpm) return std::unexpected(refusal_from(tpm.error(), Reason::Unavailable));
    UnsealContext ctx{**tpm, rq.pin, rq.eventlog_path, rq.snp, rq.policy_signatures};
    SecretBuffer key;
    auto opened = open_with_tokens(*volume, *tokens, ctx, &key);
    if (tpm_commands != nullptr) *tpm_commands = (*tpm)->command_codes();
    // A vTPM that stopped answering, even at a flush after the unseal, is not trusted with this boot.
    if (auto stall = (*tpm)->stalled()) return std::unexpected(refusal_from(*stall, Reason::TpmTimeout));
    if (!opened) return opened;
    if (!rq.return_passphrase) opened->passphrase = SecretBuffer();
    if (rq.name) {
        if (auto r = volume->activate(*rq.name, key, rq.activation); !r) {
            return std::unexpected(refusal_from(r.error(), Reason::Internal));
        }
    }
    return opened;
}

std::vector<std::string> tpm_command_json_names(const std::vector<std::uint32_t>& codes) {
    std::vector<std::string> out;
    for (auto cc : codes) out.push_back(tpm::command_json_name(cc));
    return out;
}

}  // namespace cvmunlock::engine
