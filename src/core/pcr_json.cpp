#include "cvmunlock/pcr_json.hpp"

#include <charconv>
#include <string>

namespace cvmunlock {

namespace {
std::unexpected<Error> bad(const std::string& what) { return fail(ErrorCode::InvalidInput, what); }

std::optional<std::uint32_t> parse_pcr_index(const std::string& key) {
    std::uint32_t v = 0;
    auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), v);
    if (ec != std::errc() || end != key.data() + key.size() || key.empty() || v >= kPcrCount) return std::nullopt;
    if (key.size() > 1 && key[0] == '0') return std::nullopt;
    return v;
}
}  // namespace

Result<PcrValues> pcr_values_from_json(std::string_view text) {
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return bad("not valid JSON");
    if (!doc.is_object() || !doc.contains("banks") || !doc["banks"].is_object()) {
        return bad("expected an object with a \"banks\" object");
    }
    PcrValues out;
    for (const auto& [name, bank] : doc["banks"].items()) {
        auto alg = hash_alg_from_name(name);
        if (!alg) return bad("banks: unknown bank \"" + name + "\" (sha1, sha256, sha384, sha512, sm3_256)");
        if (!bank.is_object()) return bad("banks." + name + ": expected an object of PCR values");
        auto& values = out[*alg];
        for (const auto& [key, value] : bank.items()) {
            auto pcr = parse_pcr_index(key);
            if (!pcr) return bad("banks." + name + ": \"" + key + "\" is not a PCR index 0..23");
            if (!value.is_string()) return bad("banks." + name + "." + key + ": expected a hex string");
            auto bytes = from_hex(value.get<std::string>());
            if (!bytes || bytes->size() != hash_alg_size(*alg)) {
                return bad("banks." + name + "." + key + ": expected " + std::to_string(hash_alg_size(*alg) * 2) +
                           " hex digits");
            }
            values[*pcr] = std::move(*bytes);
        }
    }
    return out;
}

nlohmann::json pcr_values_to_json(const PcrValues& values) {
    nlohmann::json banks = nlohmann::json::object();
    for (const auto& [alg, bank] : values) {
        nlohmann::json b = nlohmann::json::object();
        for (const auto& [pcr, value] : bank) b[std::to_string(pcr)] = to_hex(value);
        banks[std::string(hash_alg_name(alg))] = std::move(b);
    }
    return nlohmann::json{{"banks", std::move(banks)}};
}

nlohmann::json replay_to_json(const ReplayResult& result) {
    nlohmann::json j = pcr_values_to_json(result.banks);
    j["events"] = result.events;
    j["startup_locality"] = result.startup_locality ? nlohmann::json(*result.startup_locality) : nlohmann::json();
    return j;
}

}  // namespace cvmunlock
