#include "wipe.hpp"

#include <algorithm>
#include <charconv>
#include <map>

#include <nlohmann/json.hpp>

#include "cvmunlock/closest_name.hpp"
#include "policy_update.hpp"
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

bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// The one check of every wipe: after removing `tokens` and destroying `keyslots`, is a keyslot
// left that opens without a cvmunlock token (a passphrase, a recovery key, another vendor's token)?
bool leaves_a_way_in(const json& metadata, const std::vector<luks::TokenEntry>& entries,
                     const std::map<int, std::vector<int>>& named, const std::vector<int>& tokens,
                     const std::vector<int>& keyslots) {
    const json no_keyslots = json::object();
    const json& all = metadata.contains("keyslots") ? metadata["keyslots"] : no_keyslots;
    for (const auto& [key, ks] : all.items()) {
        const auto slot = slot_number(json(key));
        if (!slot || contains(keyslots, *slot)) continue;
        bool ours = false;
        for (const auto& t : entries) {
            const auto it = named.find(t.id);
            ours |= !contains(tokens, t.id) && t.type == kTokenType && it != named.end() && contains(it->second, *slot);
        }
        if (!ours) return true;
    }
    return false;
}

constexpr const char* kNoWayIn =
    "no keyslot would be left that opens without a cvmunlock token (add a passphrase or recovery key first)";
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
            SecretBuffer key;  // asked for, so the keyslot is really opened, not only its binding checked
            if (open_with_tokens(volume, {t}, ctx, &key)) {
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
    if (!leaves_a_way_in(metadata, *entries, named, plan.tokens, plan.keyslots)) {
        return fail(ErrorCode::PolicyRefused, std::string("refusing: ") + kNoWayIn);
    }

    const std::vector<std::uint32_t> indexes = policy_indexes_of(*entries, plan.tokens);
    auto done = apply_slot_wipe(volume, SlotWipePlan{plan.tokens, plan.keyslots, plan.kept});
    if (!done) return std::unexpected(done.error());
    done->way_in = std::move(report.way_in);
    if (!indexes.empty()) {
        auto tpm = tpm::TpmContext::open(rq.tcti, rq.limits);
        if (!tpm) {
            done->kept.push_back("the policy indexes of the removed tokens kept: " + tpm.error().message);
        } else {
            auto notes = release_policy_indexes(**tpm, indexes, rq.state_dir, volume.uuid());
            done->kept.insert(done->kept.end(), notes.begin(), notes.end());
        }
    }
    return done;
}

namespace {
constexpr std::string_view kSlotWords[] = {"all", "empty", "password", "recovery", "tpm2", "fido2", "pkcs11", "cvmunlock"};

std::string closest_word(std::string_view word) {
    return closest_name(word, std::vector<std::string>(std::begin(kSlotWords), std::end(kSlotWords)));
}

// What a keyslot is, from the tokens naming it (systemd-cryptenroll's classes).
std::string slot_kind(const json& metadata, const std::vector<luks::TokenEntry>& entries,
                      const std::map<int, std::vector<int>>& named, int slot) {
    std::string kind = "password";
    for (const auto& t : entries) {
        const auto it = named.find(t.id);
        if (it == named.end() || !contains(it->second, slot)) continue;
        if (t.type == kTokenType) return not_ours_because(metadata, slot) ? "password" : "cvmunlock";
        if (t.type == "systemd-tpm2") return "tpm2";
        if (t.type == "systemd-fido2") return "fido2";
        if (t.type == "systemd-pkcs11") return "pkcs11";
        if (t.type == kRecoveryTokenType) return "recovery";
        kind = t.type;  // another vendor's token: only "all" or its number selects it
    }
    return kind;
}
}  // namespace

Result<SlotSelection> parse_slot_selection(const std::vector<std::string>& values) {
    SlotSelection sel;
    for (const auto& value : values) {
        std::size_t start = 0;
        for (;;) {
            const std::size_t comma = value.find(',', start);
            const std::string word = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            if (!word.empty()) {
                sel.text += (sel.text.empty() ? "" : ",") + word;
                int n = -1;
                auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), n);
                if (ec == std::errc() && end == word.data() + word.size()) {
                    if (n < 0 || n > 31) return fail(ErrorCode::InvalidInput, "keyslot " + word + " is not 0..31");
                    sel.keyslots.insert(n);
                } else if (word == "all") sel.all = true;
                else if (word == "empty") sel.empty = true;
                else if (word == "password") sel.password = true;
                else if (word == "recovery") sel.recovery = true;
                else if (word == "tpm2") sel.tpm2 = true;
                else if (word == "fido2") sel.fido2 = true;
                else if (word == "pkcs11") sel.pkcs11 = true;
                else if (word == "cvmunlock") sel.cvmunlock = true;
                else {
                    const std::string near = closest_word(word);
                    return fail(ErrorCode::InvalidInput,
                                "\"" + word + "\" is not all, empty, password, recovery, tpm2, fido2, pkcs11, cvmunlock or a "
                                "keyslot number" + (near.empty() ? "" : "; did you mean \"" + near + "\"?"));
                }
            }
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    }
    if (sel.text.empty()) return fail(ErrorCode::InvalidInput, "no keyslot given");
    return sel;
}

Result<SlotWipePlan> plan_slot_wipe(luks::Volume& volume, const SlotSelection& sel, bool adds_recovery,
                                    std::optional<int> marked_recovery) {
    auto text = volume.metadata_json();
    if (!text) return std::unexpected(text.error());
    const json metadata = json::parse(*text, nullptr, false);
    auto entries = volume.tokens();
    if (!entries) return std::unexpected(entries.error());
    std::map<int, std::vector<int>> named;
    for (const auto& t : *entries) named[t.id] = named_keyslots(t.json);
    const json no_keyslots = json::object();
    const json& all = metadata.contains("keyslots") ? metadata["keyslots"] : no_keyslots;

    SlotWipePlan plan;
    for (int n : sel.keyslots) {
        if (!all.contains(std::to_string(n))) return fail(ErrorCode::NotFound, "keyslot " + std::to_string(n) + " is not in use");
    }
    for (const auto& [key, ks] : all.items()) {
        const auto slot = slot_number(json(key));
        if (!slot) continue;
        std::string kind = slot_kind(metadata, *entries, named, *slot);
        if (kind == "password" && marked_recovery == *slot) kind = "recovery";
        bool wipe = sel.all || sel.keyslots.contains(*slot) || (sel.password && kind == "password") ||
                    (sel.recovery && kind == "recovery") || (sel.tpm2 && kind == "tpm2") ||
                    (sel.fido2 && kind == "fido2") || (sel.pkcs11 && kind == "pkcs11") ||
                    (sel.cvmunlock && kind == "cvmunlock");
        static constexpr std::uint8_t kEmpty[1] = {0};
        if (!wipe && sel.empty) wipe = volume.volume_key(ByteView(kEmpty, 0), *slot).has_value();
        if (wipe) plan.keyslots.push_back(*slot);
    }
    for (const auto& t : *entries) {
        const auto& slots = named[t.id];
        const bool all_go = !slots.empty() && std::all_of(slots.begin(), slots.end(), [&](int k) { return contains(plan.keyslots, k); });
        if (all_go || (sel.cvmunlock && t.type == kTokenType)) plan.tokens.push_back(t.id);
        if (sel.cvmunlock && t.type == kTokenType) {
            for (int k : slots) {
                if (auto why = not_ours_because(metadata, k); why && !contains(plan.keyslots, k)) {
                    plan.kept.push_back("keyslot " + std::to_string(k) + " (named by token " + std::to_string(t.id) +
                                        ") kept: " + *why);
                }
            }
        }
    }
    if (!adds_recovery && !leaves_a_way_in(metadata, *entries, named, plan.tokens, plan.keyslots)) {
        return fail(ErrorCode::PolicyRefused, "--wipe-slot=" + sel.text + " refused: " + kNoWayIn +
                                                  "; nothing was written");
    }
    return plan;
}

// Token first, keyslot second: a crash in between leaves an orphan keyslot, never a token without its slot.
Result<WipeReport> apply_slot_wipe(luks::Volume& volume, const SlotWipePlan& plan) {
    WipeReport report;
    for (int id : plan.tokens) {
        if (auto r = volume.remove_token(id); !r) return std::unexpected(r.error());
        report.tokens.push_back(id);
    }
    for (int slot : plan.keyslots) {
        if (auto r = volume.destroy_keyslot(slot); !r) return std::unexpected(r.error());
        report.keyslots.push_back(slot);
    }
    report.kept = plan.kept;
    return report;
}

Result<WipeReport> wipe_tokens(const std::string& device, const WipeRequest& request) {
    auto volume = luks::Volume::open(device);
    if (!volume) return std::unexpected(volume.error());
    return wipe_tokens(*volume, request);
}

}  // namespace cvmunlock::engine
