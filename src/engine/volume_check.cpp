#include "volume_check.hpp"

namespace cvmunlock::engine {

namespace {
std::unexpected<Refusal> unacceptable(const std::string& why) {
    return refuse(Reason::HeaderUnacceptable, "unacceptable LUKS2 header: " + why);
}
}  // namespace

Decision<std::vector<FoundToken>> checked_header(ByteView raw, luks::Volume& loaded, const Luks2Policy& policy) {
    auto header = parse_luks2_header(raw);
    if (!header) return unacceptable(header.error().message);
    auto tokens = cvmunlock_tokens(header->active().metadata);
    if (!tokens) return unacceptable(tokens.error().message);
    if (tokens->empty()) return refuse(Reason::NoToken, "no cvmunlock token in the LUKS2 header");
    for (const auto& t : *tokens) {
        if (auto r = validate_luks2_header(*header, policy, t.token.keyslot); !r) return unacceptable(r.error().message);
    }
    auto json = loaded.metadata_json();
    if (!json) return std::unexpected(refusal_from(json.error(), Reason::HeaderUnacceptable));
    const auto doc = nlohmann::json::parse(*json, nullptr, false);
    if (doc.is_discarded() || doc != header->active().metadata || loaded.uuid() != header->active().binary.uuid) {
        return refuse(Reason::HeaderAltered,
                      "the LUKS2 header libcryptsetup loaded is not the one checked (the disk answered two reads "
                      "differently, or libcryptsetup reads the JSON otherwise): refusing");
    }
    return std::move(*tokens);
}

namespace {
Refusal altered(const FoundToken& found, std::string message) {
    Refusal r = refuse(Reason::HeaderAltered, std::move(message)).error();
    r.token = found.id;
    return r;
}

Decision<luks::Volume::OpenedKeyslot> open_keyslot(luks::Volume& volume, const FoundToken& found, const SealedParts& parts) {
    const int keyslot = found.token.keyslot;
    auto key = volume.volume_key(parts.passphrase.secret_view(), keyslot);
    if (!key) {
        Refusal r = refusal_from(key.error().context("keyslot " + std::to_string(keyslot)), Reason::HeaderAltered);
        if (key.error().code == ErrorCode::PolicyRefused) {
            r.message = "keyslot " + std::to_string(keyslot) + " does not open with the unsealed secret: the header "
                        "was altered";
        }
        r.token = found.id;
        return std::unexpected(std::move(r));
    }
    return std::move(*key);
}
}  // namespace

Decision<SecretBuffer> bind_volume_key(luks::Volume& volume, const FoundToken& found, const SealedParts& parts,
                                       bool want_key) {
    const int keyslot = found.token.keyslot;
    const Bytes requirements = token_requirements(found.token);
    if (found.token.version >= 2) {
        // found.keyslot_digest comes from the metadata checked to be what libcryptsetup loaded.
        const auto& digest = found.keyslot_digest;
        if (!digest || !digest_matches(volume.uuid(), *digest, parts.pin, requirements)) {
            return std::unexpected(altered(found, "keyslot " + std::to_string(keyslot) +
                                                      " is bound to a volume-key digest, or belongs to a volume (UUID " +
                                                      volume.uuid() + "), other than the one sealed in the vTPM: the "
                                                      "header was altered"));
        }
        if (!want_key) return SecretBuffer();
        // libcryptsetup accepts the keyslot's key only if it matches the digest just checked.
        auto key = open_keyslot(volume, found, parts);
        if (!key) return std::unexpected(key.error());
        return std::move(key->volume_key);
    }
    auto key = open_keyslot(volume, found, parts);
    if (!key) return std::unexpected(key.error());
    if (!volume_key_matches(volume.uuid(), key->volume_key, parts.pin, requirements)) {
        return std::unexpected(altered(found, "keyslot " + std::to_string(keyslot) +
                                                  " yields a volume key, or belongs to a volume (UUID " + volume.uuid() +
                                                  "), other than the one sealed in the vTPM: the header was altered"));
    }
    return std::move(key->volume_key);
}

}  // namespace cvmunlock::engine
