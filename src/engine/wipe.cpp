#include "wipe.hpp"

#include <algorithm>
#include <charconv>
#include <map>

#include <nlohmann/json.hpp>

#include "unlock.hpp"

namespace cvmunlock::engine {

namespace {
using nlohmann::json;

constexpr std::string_view kModhex = "cbdefghijklnrtuv";

std::optional<int> slot_number(const json& v) {
    if (!v.is_string()) return std::nullopt;
    const std::string s = v.get<std::string>();
    int n = -1;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size() || n < 0 || n > 31) return std::nullopt;
    return n;
}

// Keyslots a token's JSON names, read leniently: a malformed token still names what it names.
std::vector<int> named_keyslots(const std::string& token_json) {
    std::vector<int> out;
    const auto doc = json::parse(token_json, nullptr, false);
    if (!doc.is_object() || !doc.contains("keyslots") || !doc["keyslots"].is_array()) return out;
    for (const auto& k : doc["keyslots"]) {
        if (auto n = slot_number(k)) out.push_back(*n);
    }
    return out;
}

// The shape of the keyslot enroll adds (luks::minimal_pbkdf2, preferred):
// anything else is not ours to destroy, whatever a token says.
std::optional<std::string> not_ours_because(const json& metadata, int slot) {
    const std::string key = std::to_string(slot);
    if (!metadata.contains("keyslots") || !metadata["keyslots"].contains(key)) return "it does not exist";
    const json& ks = metadata["keyslots"][key];
    const json kdf = ks.contains("kdf") ? ks["kdf"] : json();
    const bool ours = kdf.is_object() && kdf.value("type", json()) == "pbkdf2" && kdf.value("hash", json()) == "sha256" &&
                      kdf.value("iterations", json()) == 1000 && ks.value("priority", json()) == 2;
    if (ours) return std::nullopt;
    return "it is not a keyslot cvmunlock makes (PBKDF2-SHA256 at 1000 iterations, preferred)";
}

struct Plan {
    std::vector<int> tokens;
    std::vector<int> keyslots;
    std::vector<std::string> kept;
};
}  // namespace

bool looks_like_recovery_key(ByteView key) {
    if (key.size() != 71) return false;
    for (std::size_t i = 0; i < key.size(); ++i) {
        const bool dash = i % 9 == 8;
        if (dash ? key[i] != '-' : kModhex.find(static_cast<char>(key[i])) == std::string_view::npos) return false;
    }
    return true;
}

Result<WipeReport> wipe_tokens(luks::Volume& volume, const WipeRequest& rq) {
    auto text = volume.metadata_json();
    if (!text) return std::unexpected(text.error());
    const json metadata = json::parse(*text, nullptr, false);
    auto entries = volume.tokens();
    if (!entries) return std::unexpected(entries.error());

    // Which tokens go, and which keyslots every other token still names.
    Plan plan;
    std::map<int, std::vector<int>> named;  // token -> keyslots
    for (const auto& t : *entries) named[t.id] = named_keyslots(t.json);
    if (rq.token) {
        auto it = std::find_if(entries->begin(), entries->end(), [&](const luks::TokenEntry& t) { return t.id == *rq.token; });
        if (it == entries->end()) return fail(ErrorCode::NotFound, "there is no token " + std::to_string(*rq.token));
        if (it->type != kTokenType) {
            return fail(ErrorCode::PolicyRefused, "token " + std::to_string(*rq.token) + " is a " + it->type +
                                                      " token, not a cvmunlock one: not removing it");
        }
    }
    for (const auto& t : *entries) {
        if (t.type == kTokenType && !rq.keep_tokens.contains(t.id) && (!rq.token || *rq.token == t.id)) {
            plan.tokens.push_back(t.id);
        }
    }
    if (plan.tokens.empty()) return fail(ErrorCode::NotFound, "no cvmunlock token to remove");
    auto named_by_kept = [&](int slot) {
        for (const auto& [id, slots] : named) {
            if (std::find(plan.tokens.begin(), plan.tokens.end(), id) == plan.tokens.end() &&
                std::find(slots.begin(), slots.end(), slot) != slots.end()) {
                return true;
            }
        }
        return false;
    };

    // The way in that stays.
    WipeReport report;
    std::optional<int> way_slot;
    if (rq.unlock_key) {
        auto opened = volume.volume_key(rq.unlock_key->secret_view(), -1);
        if (!opened) return std::unexpected(opened.error().context("the key given as the way in"));
        way_slot = opened->keyslot;
        report.way_in = "keyslot " + std::to_string(*way_slot) + " (the key given)";
    } else {
        auto found = cvmunlock_tokens(metadata);
        auto tpm = found && !rq.tcti.empty() ? tpm::TpmContext::open(rq.tcti, rq.limits)
                                             : Result<std::unique_ptr<tpm::TpmContext>>(std::unexpected(Error()));
        for (const auto& t : found ? *found : std::vector<FoundToken>{}) {
            if (!tpm || std::find(plan.tokens.begin(), plan.tokens.end(), t.id) != plan.tokens.end()) continue;
            UnsealContext ctx{**tpm, PinSource{}, rq.eventlog_path, SnpGateConfig{}};
            if (open_with_tokens(volume, {t}, ctx, nullptr)) {
                report.way_in = "token " + std::to_string(t.id) + ", which still unseals (keyslot " +
                                std::to_string(t.token.keyslot) + ")";
                break;
            }
        }
        if (report.way_in.empty()) {
            return fail(ErrorCode::PolicyRefused,
                        "wiping needs a way in that stays: give the passphrase or recovery key of another keyslot "
                        "(--unlock-key-file), or keep a cvmunlock token that still unseals");
        }
    }

    // The keyslots that go: ours, never the way in, never one a kept token names.
    for (int id : plan.tokens) {
        for (int slot : named[id]) {
            std::optional<std::string> why;
            if (way_slot && slot == *way_slot) why = "it opens with the key given as the way in";
            else if (named_by_kept(slot)) why = "a token that stays names it";
            else why = not_ours_because(metadata, slot);
            if (why) {
                plan.kept.push_back("keyslot " + std::to_string(slot) + " (named by token " + std::to_string(id) +
                                    ") kept: " + *why);
            } else if (std::find(plan.keyslots.begin(), plan.keyslots.end(), slot) == plan.keyslots.end()) {
                plan.keyslots.push_back(slot);
            }
        }
    }
    // What must remain: a keyslot that opens without a cvmunlock token.
    bool without_ours = false;
    const json no_keyslots = json::object();
    const json& keyslots = metadata.contains("keyslots") ? metadata["keyslots"] : no_keyslots;
    for (const auto& [key, ks] : keyslots.items()) {
        const auto slot_opt = slot_number(json(key));
        if (!slot_opt) continue;
        const int slot = *slot_opt;
        if (std::find(plan.keyslots.begin(), plan.keyslots.end(), slot) != plan.keyslots.end()) continue;
        bool ours = false;
        for (const auto& t : *entries) {
            const auto& slots = named[t.id];
            const bool stays = std::find(plan.tokens.begin(), plan.tokens.end(), t.id) == plan.tokens.end();
            ours |= stays && t.type == kTokenType && std::find(slots.begin(), slots.end(), slot) != slots.end();
        }
        without_ours |= !ours;
    }
    if (!without_ours) {
        return fail(ErrorCode::PolicyRefused, "refusing: no keyslot would be left that opens without a cvmunlock "
                                              "token (add a passphrase or recovery key first)");
    }

    // Token first, keyslot second: a crash in between leaves an orphan keyslot, never a token without its slot.
    for (int id : plan.tokens) {
        if (auto r = volume.remove_token(id); !r) return std::unexpected(r.error());
        report.tokens.push_back(id);
    }
    for (int slot : plan.keyslots) {
        if (auto r = volume.destroy_keyslot(slot); !r) return std::unexpected(r.error());
        report.keyslots.push_back(slot);
    }
    report.kept = std::move(plan.kept);
    return report;
}

Result<WipeReport> wipe_tokens(const std::string& device, const WipeRequest& request) {
    auto volume = luks::Volume::open(device);
    if (!volume) return std::unexpected(volume.error());
    return wipe_tokens(*volume, request);
}

}  // namespace cvmunlock::engine
