#include "unlock.hpp"

#include "luks/volume.hpp"

namespace cvmunlock::engine {

namespace {
// Every token must be acceptable, and so must the header libcryptsetup loaded.
Result<void> validate_loaded(luks::Volume& volume, const Luks2Policy& policy, int keyslot) {
    auto json = volume.metadata_json();
    if (!json) return std::unexpected(json.error());
    auto doc = nlohmann::json::parse(*json, nullptr, false);
    if (doc.is_discarded()) return fail(ErrorCode::InvalidInput, "libcryptsetup returned unparsable metadata");
    if (auto r = validate_luks2_metadata(doc, policy, keyslot); !r) {
        return std::unexpected(Error(ErrorCode::PolicyRefused, "unacceptable LUKS2 header: " + r.error().message));
    }
    return {};
}

Result<void> open_with_token(luks::Volume& volume, tpm::TpmContext& tpm, const FoundToken& found,
                             const UnlockRequest& request, UnlockReport& report) {
    if (auto r = validate_loaded(volume, request.header_policy, found.token.keyslot); !r) return r;
    auto parts = unseal_token(tpm, found.token, request.pin, request.eventlog_path, &report.refusal, request.snp);
    if (!parts) return std::unexpected(parts.error());
    auto key = volume.volume_key(parts->passphrase.secret_view(), found.token.keyslot);
    if (!key) return std::unexpected(key.error().context("keyslot " + std::to_string(found.token.keyslot)));
    // The sealed pin, not the host-writable header, says which volume key is ours.
    if (!volume_key_matches(volume.uuid(), *key, parts->pin, token_requirements(found.token))) {
        return fail(ErrorCode::Tampered, "keyslot " + std::to_string(found.token.keyslot) +
                                             " yields a volume key, or belongs to a volume (UUID " + volume.uuid() +
                                             "), other than the one sealed in the vTPM: the header was altered");
    }
    if (request.return_passphrase) report.passphrase = std::move(parts->passphrase);
    if (request.name) return volume.activate(*request.name, *key);
    return {};
}
}  // namespace

Result<std::vector<FoundToken>> validated_tokens(const luks::HeaderSnapshot& snapshot, const Luks2Policy& policy) {
    auto header = parse_luks2_header(snapshot.bytes());
    if (!header) return std::unexpected(Error(ErrorCode::PolicyRefused, "unacceptable LUKS2 header: " + header.error().message));
    auto tokens = cvmunlock_tokens(header->active().metadata);
    if (!tokens) return std::unexpected(Error(ErrorCode::PolicyRefused, "unacceptable LUKS2 header: " + tokens.error().message));
    if (tokens->empty()) return fail(ErrorCode::NotFound, "no cvmunlock token in the LUKS2 header");
    for (const auto& t : *tokens) {
        if (auto r = validate_luks2_header(*header, policy, t.token.keyslot); !r) {
            return std::unexpected(Error(ErrorCode::PolicyRefused, "unacceptable LUKS2 header: " + r.error().message));
        }
    }
    return tokens;
}

Result<void> unlock_from_snapshot(const luks::HeaderSnapshot& snapshot, const UnlockRequest& request,
                                  UnlockReport& report) {
    auto tokens = validated_tokens(snapshot, request.header_policy);
    if (!tokens) return std::unexpected(tokens.error());
    auto volume = luks::Volume::open_detached(snapshot.path(), request.device);
    if (!volume) return std::unexpected(volume.error());
    auto tpm = tpm::TpmContext::open(request.tcti);
    if (!tpm) return std::unexpected(tpm.error());

    std::optional<Error> last;
    for (const auto& found : *tokens) {
        auto r = open_with_token(*volume, **tpm, found, request, report);
        report.tpm_command_codes = (*tpm)->command_codes();
        if (r) {
            report.token = found.id;
            report.keyslot = found.token.keyslot;
            return {};
        }
        report.tried.push_back("token " + std::to_string(found.id) + ": " + r.error().message);
        last = r.error();
    }
    return std::unexpected(*last);
}

Result<void> unlock_volume(const UnlockRequest& request, UnlockReport& report) {
    auto snapshot = luks::HeaderSnapshot::take(request.device);
    if (!snapshot) return std::unexpected(snapshot.error());
    return unlock_from_snapshot(*snapshot, request, report);
}

}  // namespace cvmunlock::engine
