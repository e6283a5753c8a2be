#include "cvmunlock/token.hpp"

#include "cvmunlock/policy_key.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <set>
#include <string>

namespace cvmunlock {

namespace {
using nlohmann::json;

std::unexpected<Error> bad(const std::string& field, const std::string& what) {
    return fail(ErrorCode::InvalidInput, "cvmunlock token: " + field + ": " + what);
}

constexpr std::size_t kMaxBlob = 1024;  // TPM2B_PUBLIC / TPM2B_PRIVATE are far smaller

const std::set<std::string> kKeys = {"type", "keyslots", "version", "pcr_bank", "pcrs", "lock_pcr", "pcr_values",
                                     "policy", "srk_name", "tpm_public", "tpm_private", "pin", "events", "snp", "nv_policy", "policy_key"};

std::optional<std::uint32_t> pcr_from(const json& v) {
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() >= 24) return std::nullopt;
    return v.get<std::uint32_t>();
}

std::optional<std::uint32_t> pcr_key(const std::string& key) {
    std::uint32_t v = 0;
    auto [p, ec] = std::from_chars(key.data(), key.data() + key.size(), v);
    if (ec != std::errc() || p != key.data() + key.size() || v >= 24 || (key.size() > 1 && key[0] == '0')) {
        return std::nullopt;
    }
    return v;
}

Result<Bytes> hex_field(const json& doc, const std::string& key, std::size_t min, std::size_t max) {
    if (!doc.contains(key) || !doc[key].is_string()) return bad(key, "missing or not a string");
    auto b = from_hex(doc[key].get<std::string>());
    if (!b || b->size() < min || b->size() > max) return bad(key, "not hex of " + std::to_string(min) + ".." + std::to_string(max) + " bytes");
    return *b;
}

Result<Bytes> b64_field(const json& doc, const std::string& key) {
    if (!doc.contains(key) || !doc[key].is_string()) return bad(key, "missing or not a string");
    auto b = base64_decode(doc[key].get<std::string>());
    if (!b || b->empty() || b->size() > kMaxBlob) return bad(key, "not base64 of 1.." + std::to_string(kMaxBlob) + " bytes");
    return *b;
}

Result<void> parse_header(const json& doc, CvmToken& t) {
    for (const auto& [key, value] : doc.items()) {
        if (!kKeys.contains(key)) return bad(key, "unknown field");
    }
    // Comparing json values never throws, whatever type the host wrote (value() would).
    if (!doc.contains("type") || doc["type"] != kTokenType) return bad("type", "not \"cvmunlock\"");
    // Compared as the unsigned number it is: get<int>() would read 4294967297 as 1.
    if (!doc.contains("version") || !doc["version"].is_number_unsigned() ||
        doc["version"].get<std::uint64_t>() < static_cast<std::uint64_t>(kOldestTokenVersion) ||
        doc["version"].get<std::uint64_t>() > static_cast<std::uint64_t>(kTokenVersion)) {
        return bad("version", "unsupported (this build reads versions " + std::to_string(kOldestTokenVersion) + " to " +
                                  std::to_string(kTokenVersion) + ")");
    }
    t.version = static_cast<int>(doc["version"].get<std::uint64_t>());
    const json& slots = doc.contains("keyslots") ? doc["keyslots"] : json();
    if (!slots.is_array() || slots.size() != 1 || !slots[0].is_string()) return bad("keyslots", "must list exactly one keyslot");
    const std::string s = slots[0].get<std::string>();
    int slot = -1;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), slot);
    if (ec != std::errc() || p != s.data() + s.size() || slot < 0 || slot > 31) return bad("keyslots", "\"" + s + "\" is not a keyslot 0..31");
    t.keyslot = slot;
    return {};
}

Result<void> parse_pcrs(const json& doc, CvmToken& t) {
    auto bank = doc.contains("pcr_bank") && doc["pcr_bank"].is_string()
                    ? hash_alg_from_name(doc["pcr_bank"].get<std::string>()) : std::nullopt;
    if (!bank || (*bank != HashAlg::Sha256 && *bank != HashAlg::Sha384)) return bad("pcr_bank", "must be sha256 or sha384");
    t.pcr_bank = *bank;
    if (!doc.contains("pcrs") || !doc["pcrs"].is_array()) return bad("pcrs", "missing or not an array");
    for (const auto& v : doc["pcrs"]) {
        auto pcr = pcr_from(v);
        if (!pcr || (!t.pcrs.empty() && *pcr <= t.pcrs.back())) return bad("pcrs", "must be ascending PCR numbers 0..23");
        t.pcrs.push_back(*pcr);
    }
    if (doc.contains("lock_pcr") && !doc["lock_pcr"].is_null()) {
        t.lock_pcr = pcr_from(doc["lock_pcr"]);
        if (!t.lock_pcr) return bad("lock_pcr", "not a PCR number 0..23 or null");
        for (auto p : t.pcrs) if (p == *t.lock_pcr) return bad("lock_pcr", "also listed in pcrs");
    }
    if (t.pcrs.empty() && !t.lock_pcr) return bad("pcrs", "no PCR is sealed");
    if (!doc.contains("pcr_values") || !doc["pcr_values"].is_object()) return bad("pcr_values", "missing or not an object");
    for (const auto& [key, value] : doc["pcr_values"].items()) {
        auto pcr = pcr_key(key);
        auto v = value.is_string() ? from_hex(value.get<std::string>()) : std::nullopt;
        if (!pcr || !v || v->size() != hash_alg_size(t.pcr_bank)) return bad("pcr_values." + key, "not a PCR value of the bank");
        t.pcr_values[*pcr] = std::move(*v);
    }
    return {};
}

Result<void> parse_events(const json& doc, CvmToken& t) {
    if (!doc.contains("events")) return {};
    if (!doc["events"].is_object()) return bad("events", "not an object");
    for (const auto& [key, list] : doc["events"].items()) {
        auto pcr = pcr_key(key);
        if (!pcr || !list.is_array() || list.size() > 512) return bad("events." + key, "not a list of event digests");
        auto& out = t.events[*pcr];
        for (const auto& e : list) {
            auto d = e.is_string() ? from_hex(e.get<std::string>()) : std::nullopt;
            if (!d || d->size() != kEventDigestPrefix) return bad("events." + key, "entries must be 8-byte hex");
            out.push_back(std::move(*d));
        }
    }
    return {};
}

Result<void> parse_pin(const json& doc, CvmToken& t) {
    if (!doc.contains("pin") || doc["pin"].is_null()) return {};
    const json& p = doc["pin"];
    if (!p.is_object() || !p.contains("kdf") || p["kdf"] != "pbkdf2-sha256" || !p.contains("iterations") ||
        !p["iterations"].is_number_unsigned()) {
        return bad("pin", "expected {\"kdf\": \"pbkdf2-sha256\", \"iterations\": N, \"salt\": base64}");
    }
    PinKdf kdf;
    const auto iterations = p["iterations"].get<std::uint64_t>();
    if (iterations < 1000 || iterations > 100000000) return bad("pin.iterations", "outside 1000..100000000");
    kdf.iterations = static_cast<std::uint32_t>(iterations);
    auto salt = b64_field(p, "salt");
    if (!salt || salt->size() != 16) return bad("pin.salt", "must be 16 bytes");
    kdf.salt = std::move(*salt);
    t.pin = std::move(kdf);
    return {};
}

constexpr std::size_t kMaxVcek = 4096;  // a VCEK is about 1.4 KB of DER

Result<void> parse_snp(const json& doc, CvmToken& t) {
    if (!doc.contains("snp") || doc["snp"].is_null()) return {};
    const json& s = doc["snp"];
    if (!s.is_object()) return bad("snp", "not an object");
    for (const auto& [key, value] : s.items()) {
        if (key != "evidence" && key != "policy" && key != "vcek") return bad("snp." + key, "unknown field");
    }
    SnpRequirement req;
    auto kind = s.contains("evidence") && s["evidence"].is_string()
                    ? snp::evidence_kind_from_name(s["evidence"].get<std::string>()) : std::nullopt;
    if (!kind || *kind == snp::EvidenceKind::File) return bad("snp.evidence", "must be auto, sev-guest, tsm or azure-hcl");
    req.evidence = *kind;
    if (!s.contains("policy")) return bad("snp.policy", "missing");
    auto policy = snp::policy_from_json(s["policy"]);
    if (!policy) return std::unexpected(policy.error().context("cvmunlock token: snp"));
    req.policy = std::move(*policy);
    if (s.contains("vcek")) {
        auto vcek = s["vcek"].is_string() ? base64_decode(s["vcek"].get<std::string>()) : std::nullopt;
        if (!vcek || vcek->empty() || vcek->size() > kMaxVcek) return bad("snp.vcek", "not base64 of 1..4096 bytes");
        req.vcek = std::move(*vcek);
    }
    t.snp = std::move(req);
    return {};
}
Result<std::vector<PcrBranch>> parse_branches(const json& list, const CvmToken& t, const std::string& field,
                                              std::size_t min) {
    if (!list.is_array() || list.size() < min || list.size() > kMaxPolicyBranches) {
        return bad(field, "must list " + std::to_string(min) + ".." + std::to_string(kMaxPolicyBranches) + " branches");
    }
    std::set<std::uint32_t> want(t.pcrs.begin(), t.pcrs.end());
    if (t.lock_pcr) want.insert(*t.lock_pcr);
    std::vector<PcrBranch> out;
    for (const auto& b : list) {
        if (!b.is_object()) return bad(field, "a branch is not an object");
        PcrBranch branch;
        for (const auto& [key, value] : b.items()) {
            auto pcr = pcr_key(key);
            auto v = value.is_string() ? from_hex(value.get<std::string>()) : std::nullopt;
            if (!pcr || !want.contains(*pcr) || !v || v->size() != hash_alg_size(t.pcr_bank)) {
                return bad(field + "." + key, "not a policy PCR's value in the bank");
            }
            branch[*pcr] = std::move(*v);
        }
        if (branch.size() != want.size()) return bad(field, "a branch does not give every policy PCR a value");
        out.push_back(std::move(branch));
    }
    return out;
}

// After parse_pcrs: branches name exactly the sealed PCRs and the lock PCR.
Result<void> parse_nv_policy(const json& doc, CvmToken& t) {
    if (!doc.contains("nv_policy") || doc["nv_policy"].is_null()) return {};
    const json& n = doc["nv_policy"];
    if (!n.is_object()) return bad("nv_policy", "not an object");
    for (const auto& [key, value] : n.items()) {
        if (key != "index" && key != "name" && key != "branches" && key != "pending") return bad("nv_policy." + key, "unknown field");
    }
    NvPolicy p;
    // TPM 2.0 Part 2, 7.3: NV index handles are 0x01xxxxxx.
    if (!n.contains("index") || !n["index"].is_number_unsigned() || (n["index"].get<std::uint64_t>() >> 24) != 0x01) {
        return bad("nv_policy.index", "not an NV index handle 0x01000000..0x01FFFFFF");
    }
    p.index = n["index"].get<std::uint32_t>();
    auto name = hex_field(n, "name", 34, 34);
    if (!name) return bad("nv_policy.name", "not hex of 34 bytes");
    p.name = std::move(*name);
    auto branches = parse_branches(n.contains("branches") ? n["branches"] : json(), t, "nv_policy.branches", 1);
    if (!branches) return std::unexpected(branches.error());
    p.branches = std::move(*branches);
    if (n.contains("pending")) {
        auto pending = parse_branches(n["pending"], t, "nv_policy.pending", 1);
        if (!pending) return std::unexpected(pending.error());
        p.pending = std::move(*pending);
    }
    t.nv_policy = std::move(p);
    return {};
}

Result<void> parse_policy_key(const json& doc, CvmToken& t) {
    if (!doc.contains("policy_key") || doc["policy_key"].is_null()) return {};
    const json& k = doc["policy_key"];
    if (!k.is_object() || k.size() != 2) return bad("policy_key", "expected {\"public\": base64, \"name\": hex}");
    auto pub = b64_field(k, "public");
    auto name = hex_field(k, "name", 34, 34);
    if (!pub) return bad("policy_key.public", "not base64 of a TPM2B_PUBLIC");
    if (!name) return bad("policy_key.name", "not hex of 34 bytes");
    auto computed = tpm_object_name(*pub);
    if (!computed || *computed != *name) return bad("policy_key.name", "is not the name of policy_key.public");
    if (t.nv_policy) return bad("policy_key", "cannot be combined with nv_policy");
    t.policy_key = PolicyKey{std::move(*pub), std::move(*name)};
    return {};
}

json branches_json(const std::vector<PcrBranch>& branches) {
    json list = json::array();
    for (const auto& b : branches) {
        json o = json::object();
        for (const auto& [pcr, v] : b) o[std::to_string(pcr)] = to_hex(v);
        list.push_back(std::move(o));
    }
    return list;
}
}  // namespace

Result<CvmToken> token_from_document(const json& doc) {
    if (!doc.is_object()) return bad("(document)", "not a JSON object");
    CvmToken t;
    for (auto step : {parse_header, parse_pcrs, parse_events, parse_pin, parse_snp, parse_nv_policy, parse_policy_key}) {
        if (auto r = step(doc, t); !r) return std::unexpected(r.error());
    }
    auto policy = hex_field(doc, "policy", 32, 32);
    auto srk = hex_field(doc, "srk_name", 34, 34);
    auto pub = b64_field(doc, "tpm_public");
    auto priv = b64_field(doc, "tpm_private");
    for (auto* r : {&policy, &srk, &pub, &priv}) {
        if (!*r) return std::unexpected(r->error());
    }
    t.policy_digest = std::move(*policy);
    t.srk_name = std::move(*srk);
    t.tpm_public = std::move(*pub);
    t.tpm_private = std::move(*priv);
    return t;
}

Result<CvmToken> token_from_json(std::string_view text) {
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded()) return bad("(document)", "not valid JSON");
    return token_from_document(doc);
}

json token_to_json(const CvmToken& t) {
    json values = json::object();
    for (const auto& [pcr, v] : t.pcr_values) values[std::to_string(pcr)] = to_hex(v);
    json events = json::object();
    for (const auto& [pcr, list] : t.events) {
        json l = json::array();
        for (const auto& d : list) l.push_back(to_hex(d));
        events[std::to_string(pcr)] = std::move(l);
    }
    json doc{{"type", kTokenType},
             {"keyslots", json::array({std::to_string(t.keyslot)})},
             {"version", t.version},
             {"pcr_bank", hash_alg_name(t.pcr_bank)},
             {"pcrs", t.pcrs},
             {"lock_pcr", t.lock_pcr ? json(*t.lock_pcr) : json()},
             {"pcr_values", values},
             {"policy", to_hex(t.policy_digest)},
             {"srk_name", to_hex(t.srk_name)},
             {"tpm_public", base64_encode(t.tpm_public)},
             {"tpm_private", base64_encode(t.tpm_private)},
             {"pin", t.pin ? json{{"kdf", "pbkdf2-sha256"}, {"iterations", t.pin->iterations}, {"salt", base64_encode(t.pin->salt)}} : json()}};
    if (!t.events.empty()) doc["events"] = std::move(events);
    if (t.snp) {
        json s{{"evidence", snp::evidence_kind_name(t.snp->evidence)}, {"policy", snp::policy_to_json(t.snp->policy)}};
        if (!t.snp->vcek.empty()) s["vcek"] = base64_encode(t.snp->vcek);
        doc["snp"] = std::move(s);
    }
    if (t.nv_policy) {
        json n{{"index", t.nv_policy->index}, {"name", to_hex(t.nv_policy->name)},
               {"branches", branches_json(t.nv_policy->branches)}};
        if (!t.nv_policy->pending.empty()) n["pending"] = branches_json(t.nv_policy->pending);
        doc["nv_policy"] = std::move(n);
    }
    if (t.policy_key) doc["policy_key"] = json{{"public", base64_encode(t.policy_key->public_blob)}, {"name", to_hex(t.policy_key->name)}};
    return doc;
}

std::string base64_encode(ByteView data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(), static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::optional<Bytes> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0 || text.size() > (1u << 20)) return std::nullopt;
    Bytes out(text.size() / 4 * 3);
    const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) return std::nullopt;
    std::size_t len = static_cast<std::size_t>(n);
    // EVP_DecodeBlock keeps the padding's zero bytes: drop one per '='.
    for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --len;
    out.resize(len);
    if (base64_encode(out) != text) return std::nullopt;  // canonical form only
    return out;
}

}  // namespace cvmunlock
