#include "token_open.hpp"

#include <libcryptsetup.h>

#include <cerrno>

#include "cvmunlock/luks2_header.hpp"
#include "luks/volume.hpp"
#include "unseal.hpp"

namespace cvmunlock::engine {

namespace {
// -EAGAIN: no TPM yet (systemd-cryptsetup waits or falls back); -ENOANO: PIN
// needed or wrong; -EPERM: refused by policy or header check; -ENOENT: unusable here.
int errno_for(const Error& e, bool pin_problem) {
    if (pin_problem) return -ENOANO;
    switch (e.code) {
        case ErrorCode::Unavailable: return -EAGAIN;
        case ErrorCode::PolicyRefused:
        case ErrorCode::Tampered:
        case ErrorCode::InvalidInput: return -EPERM;
        case ErrorCode::NotFound:
        case ErrorCode::Internal: return -ENOENT;
    }
    return -ENOENT;
}

TokenOpenResult refuse(int err, const std::string& message) {
    TokenOpenResult r;
    r.err = err;
    r.message = message;
    return r;
}

Result<CvmToken> token_of(crypt_device* cd, int token) {
    const char* json = nullptr;
    if (crypt_token_json_get(cd, token, &json) < 0 || json == nullptr) return fail(ErrorCode::NotFound, "token not readable");
    return token_from_json(std::string_view(json));
}

Result<void> check_header(luks::Volume& volume, int keyslot) {
    auto text = volume.metadata_json();
    if (!text) return std::unexpected(text.error());
    auto doc = nlohmann::json::parse(*text, nullptr, false);
    if (auto r = validate_luks2_metadata(doc, Luks2Policy{}, keyslot); !r) {
        return std::unexpected(Error(ErrorCode::PolicyRefused, "unacceptable LUKS2 header: " + r.error().message));
    }
    return {};
}
}  // namespace

TokenOpenResult open_token(crypt_device* cd, int token_id, const std::optional<SecretBuffer>& pin) {
    auto token = token_of(cd, token_id);
    if (!token) return refuse(-EPERM, token.error().message);
    luks::Volume volume = luks::Volume::borrow(cd);
    if (auto r = check_header(volume, token->keyslot); !r) return refuse(-EPERM, r.error().message);

    auto tpm = tpm::TpmContext::open(tpm::resolve_tcti(""));
    if (!tpm) return refuse(-EAGAIN, tpm.error().message);
    bool pin_missing = false;
    PinSource source = [&pin, &pin_missing]() -> std::optional<SecretBuffer> {
        if (!pin) {
            pin_missing = true;
            return std::nullopt;
        }
        return SecretBuffer::copy_of(pin->secret_view());
    };
    RefusalDetail detail;
    auto parts = unseal_token(**tpm, *token, source, "/sys/kernel/security/tpm0/binary_bios_measurements", &detail);
    if (!parts) {
        std::string msg = parts.error().message;
        for (const auto& c : detail.changes) msg += "; " + describe_change(c, token->pcr_bank);
        const bool pin_problem = pin_missing || (token->pin && msg.find("wrong PIN") != std::string::npos);
        return refuse(errno_for(parts.error(), pin_problem), msg);
    }
    auto key = volume.volume_key(parts->passphrase.secret_view(), token->keyslot);
    if (!key) return refuse(-EPERM, "keyslot " + std::to_string(token->keyslot) + " does not open with the unsealed secret");
    if (!volume_key_matches(volume.uuid(), *key, parts->pin, token_requirements(*token))) {
        return refuse(-EPERM, "keyslot " + std::to_string(token->keyslot) +
                                  " yields a volume key, or belongs to a volume (UUID " + volume.uuid() +
                                  "), other than the one sealed in the vTPM: the header was altered");
    }
    TokenOpenResult ok;
    ok.passphrase = std::move(parts->passphrase);
    ok.message = "unsealed from the vTPM (token " + std::to_string(token_id) + ", keyslot " + std::to_string(token->keyslot) + ")";
    if (detail.snp) ok.message += "; " + detail.snp->summary;
    return ok;
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
