#include "cvmunlock/snp_policy.hpp"

#include <algorithm>
#include <set>

namespace cvmunlock::snp {

namespace {
using nlohmann::json;

std::string hex_of(std::span<const std::uint8_t> bytes) { return to_hex(ByteView(bytes.data(), bytes.size())); }

template <std::size_t N>
void check_equal(std::vector<Violation>& out, const char* check, const std::array<std::uint8_t, N>& have,
                 const std::optional<std::array<std::uint8_t, N>>& want) {
    if (want && have != *want) {
        out.push_back({check, "report has " + hex_of(have) + ", policy requires " + hex_of(*want)});
    }
}

void check_flag(std::vector<Violation>& out, const char* check, bool have, const std::optional<bool>& want,
                const char* field) {
    if (want && have != *want) {
        out.push_back({check, std::string(field) + " is " + (have ? "set" : "clear") + ", policy requires it " +
                                  (*want ? "set" : "clear")});
    }
}

void check_tcb(std::vector<Violation>& out, const Report& report, Product product, const Policy& policy) {
    if (!policy.min_tcb) return;
    const Tcb have = decode_tcb(report.reported_tcb, product);
    if (!tcb_at_least(have, *policy.min_tcb)) {
        out.push_back({"min-tcb", "REPORTED_TCB " + tcb_to_string(have, product) + " is below the minimum " +
                                  tcb_to_string(*policy.min_tcb, product)});
    }
}
}  // namespace

std::vector<Violation> evaluate_policy(const Report& report, Product product, const Policy& policy) {
    std::vector<Violation> out;
    if (!policy.allow_debug && (report.policy & policy_bit::kDebug) != 0) {
        out.push_back({"debug", "guest POLICY allows debugging (bit 19): the host can read guest memory"});
    }
    if (!policy.allow_migration_agent && (report.policy & policy_bit::kMigrateMa) != 0) {
        out.push_back({"migration-agent", "guest POLICY allows a migration agent (bit 18)"});
    }
    check_tcb(out, report, product, policy);
    if (!policy.measurements.empty() &&
        std::find(policy.measurements.begin(), policy.measurements.end(), report.measurement) ==
            policy.measurements.end()) {
        out.push_back({"measurement", "launch MEASUREMENT " + hex_of(report.measurement) + " is not an allowed one"});
    }
    if (policy.max_vmpl && report.vmpl > *policy.max_vmpl) {
        out.push_back({"vmpl", "report is from VMPL " + std::to_string(report.vmpl) + ", policy allows at most VMPL " +
                                   std::to_string(*policy.max_vmpl)});
    }
    check_equal(out, "host-data", report.host_data, policy.host_data);
    check_equal(out, "id-key-digest", report.id_key_digest, policy.id_key_digest);
    check_equal(out, "author-key-digest", report.author_key_digest, policy.author_key_digest);
    check_flag(out, "smt", (report.platform_info & platform_bit::kSmtEnabled) != 0, policy.smt, "PLATFORM_INFO.SMT_EN");
    check_flag(out, "single-socket", (report.policy & policy_bit::kSingleSocket) != 0, policy.single_socket,
               "POLICY.SINGLE_SOCKET");
    return out;
}

// ---- JSON (token and --json output) ----

namespace {
std::unexpected<Error> bad(const std::string& field, const std::string& what) {
    return fail(ErrorCode::InvalidInput, "snp policy: " + field + ": " + what);
}

template <std::size_t N>
Result<std::array<std::uint8_t, N>> hex_array(const json& v, const std::string& field) {
    std::optional<Bytes> b = v.is_string() ? from_hex(v.get<std::string>()) : std::nullopt;
    if (!b || b->size() != N) return bad(field, "must be hex of " + std::to_string(N) + " bytes");
    std::array<std::uint8_t, N> out{};
    std::copy(b->begin(), b->end(), out.begin());
    return out;
}

Result<Tcb> tcb_from_json(const json& v) {
    if (!v.is_object()) return bad("min_tcb", "not an object");
    Tcb t;
    const std::pair<const char*, std::uint8_t*> parts[] = {
        {"fmc", &t.fmc}, {"bootloader", &t.bootloader}, {"tee", &t.tee}, {"snp", &t.snp}, {"microcode", &t.microcode}};
    for (const auto& [key, value] : v.items()) {
        auto* it = std::find_if(std::begin(parts), std::end(parts), [&](const auto& p) { return key == p.first; });
        if (it == std::end(parts)) return bad("min_tcb." + key, "unknown component");
        if (!value.is_number_unsigned() || value.get<std::uint64_t>() > 255) return bad("min_tcb." + key, "not 0..255");
        *it->second = value.get<std::uint8_t>();
    }
    return t;
}

std::optional<bool> bool_field(const json& doc, const char* key) {
    if (!doc.contains(key)) return std::nullopt;
    return doc[key].is_boolean() ? std::optional<bool>(doc[key].get<bool>()) : std::nullopt;
}

const std::set<std::string> kPolicyKeys = {"allow_debug", "allow_migration_agent", "min_tcb", "measurements",
                                           "max_vmpl", "host_data", "id_key_digest", "author_key_digest", "smt",
                                           "single_socket"};

Result<void> parse_flags(const json& doc, Policy& p) {
    for (const char* key : {"allow_debug", "allow_migration_agent", "smt", "single_socket"}) {
        if (doc.contains(key) && !bool_field(doc, key)) return bad(key, "not a boolean");
    }
    p.allow_debug = bool_field(doc, "allow_debug").value_or(false);
    p.allow_migration_agent = bool_field(doc, "allow_migration_agent").value_or(false);
    p.smt = bool_field(doc, "smt");
    p.single_socket = bool_field(doc, "single_socket");
    if (doc.contains("max_vmpl")) {
        const json& v = doc["max_vmpl"];
        if (!v.is_number_unsigned() || v.get<std::uint64_t>() > 3) return bad("max_vmpl", "not 0..3");
        p.max_vmpl = v.get<std::uint32_t>();
    }
    return {};
}

Result<void> parse_digests(const json& doc, Policy& p) {
    if (doc.contains("min_tcb")) {
        auto t = tcb_from_json(doc["min_tcb"]);
        if (!t) return std::unexpected(t.error());
        p.min_tcb = *t;
    }
    if (doc.contains("measurements")) {
        const json& list = doc["measurements"];
        if (!list.is_array() || list.empty() || list.size() > kMaxMeasurements) return bad("measurements", "not a list of 1..64");
        for (const auto& m : list) {
            auto a = hex_array<48>(m, "measurements");
            if (!a) return std::unexpected(a.error());
            p.measurements.push_back(*a);
        }
    }
    auto optional_hex = [&]<std::size_t N>(const char* key, std::optional<std::array<std::uint8_t, N>>& out) -> Result<void> {
        if (!doc.contains(key)) return {};
        auto a = hex_array<N>(doc[key], key);
        if (!a) return std::unexpected(a.error());
        out = *a;
        return {};
    };
    if (auto r = optional_hex("host_data", p.host_data); !r) return r;
    if (auto r = optional_hex("id_key_digest", p.id_key_digest); !r) return r;
    return optional_hex("author_key_digest", p.author_key_digest);
}
}  // namespace

Result<Policy> policy_from_json(const json& doc) {
    if (!doc.is_object()) return bad("policy", "not an object");
    for (const auto& [key, value] : doc.items()) {
        if (!kPolicyKeys.contains(key)) return bad(key, "unknown field");
    }
    Policy p;
    if (auto r = parse_flags(doc, p); !r) return std::unexpected(r.error());
    if (auto r = parse_digests(doc, p); !r) return std::unexpected(r.error());
    return p;
}

json policy_to_json(const Policy& p) {
    json doc = json::object();
    if (p.allow_debug) doc["allow_debug"] = true;
    if (p.allow_migration_agent) doc["allow_migration_agent"] = true;
    if (p.min_tcb) {
        doc["min_tcb"] = {{"bootloader", p.min_tcb->bootloader}, {"tee", p.min_tcb->tee}, {"snp", p.min_tcb->snp},
                          {"microcode", p.min_tcb->microcode}};
        if (p.min_tcb->fmc != 0) doc["min_tcb"]["fmc"] = p.min_tcb->fmc;
    }
    if (!p.measurements.empty()) {
        json list = json::array();
        for (const auto& m : p.measurements) list.push_back(hex_of(m));
        doc["measurements"] = std::move(list);
    }
    if (p.max_vmpl) doc["max_vmpl"] = *p.max_vmpl;
    if (p.host_data) doc["host_data"] = hex_of(*p.host_data);
    if (p.id_key_digest) doc["id_key_digest"] = hex_of(*p.id_key_digest);
    if (p.author_key_digest) doc["author_key_digest"] = hex_of(*p.author_key_digest);
    if (p.smt) doc["smt"] = *p.smt;
    if (p.single_socket) doc["single_socket"] = *p.single_socket;
    return doc;
}

}  // namespace cvmunlock::snp
