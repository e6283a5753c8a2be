#include "snp_report_json.hpp"

#include <cstdio>

namespace cvmunlock::cli {

namespace {
using json = nlohmann::ordered_json;

template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& a) {
    return to_hex(ByteView(a.data(), a.size()));
}

std::string hex64(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
    return buf;
}

json tcb_json(std::uint64_t raw, snp::Product product) {
    const snp::Tcb t = snp::decode_tcb(raw, product);
    json j{{"raw", hex64(raw)}, {"bootloader", t.bootloader}, {"tee", t.tee}, {"snp", t.snp}, {"microcode", t.microcode}};
    if (product == snp::Product::Turin) j["fmc"] = t.fmc;
    return j;
}

const char* signing_key_name(snp::SigningKey key) {
    switch (key) {
        case snp::SigningKey::Vcek: return "vcek";
        case snp::SigningKey::Vlek: return "vlek";
        case snp::SigningKey::None: return "none";
    }
    return "reserved";
}

json policy_json(std::uint64_t policy) {
    using namespace snp::policy_bit;
    return {{"raw", hex64(policy)},
            {"abi_major", (policy >> 8) & 0xFF},
            {"abi_minor", policy & 0xFF},
            {"smt", (policy & kSmt) != 0},
            {"migrate_ma", (policy & kMigrateMa) != 0},
            {"debug", (policy & kDebug) != 0},
            {"single_socket", (policy & kSingleSocket) != 0}};
}

std::string version_string(std::uint8_t major, std::uint8_t minor, std::uint8_t build) {
    return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(build);
}
}  // namespace

json report_to_json(const snp::Report& r) {
    const snp::Product product = r.product();
    json j{{"version", r.version},
           {"product", snp::product_name(product)},
           {"guest_svn", r.guest_svn},
           {"policy", policy_json(r.policy)},
           {"family_id", hex(r.family_id)},
           {"image_id", hex(r.image_id)},
           {"vmpl", r.vmpl},
           {"signature_algo", r.signature_algo},
           {"current_tcb", tcb_json(r.current_tcb, product)},
           {"platform_info", {{"raw", hex64(r.platform_info)},
                              {"smt_enabled", (r.platform_info & snp::platform_bit::kSmtEnabled) != 0},
                              {"tsme_enabled", (r.platform_info & snp::platform_bit::kTsmeEnabled) != 0}}},
           {"signer_info", {{"signing_key", signing_key_name(r.signing_key())},
                            {"mask_chip_key", r.mask_chip_id()},
                            {"author_key_en", (r.signer_info & 1U) != 0}}},
           {"report_data", hex(r.report_data)},
           {"measurement", hex(r.measurement)},
           {"host_data", hex(r.host_data)},
           {"id_key_digest", hex(r.id_key_digest)},
           {"author_key_digest", hex(r.author_key_digest)},
           {"report_id", hex(r.report_id)},
           {"report_id_ma", hex(r.report_id_ma)},
           {"reported_tcb", tcb_json(r.reported_tcb, product)},
           {"chip_id", hex(r.chip_id)},
           {"committed_tcb", tcb_json(r.committed_tcb, product)},
           {"current_version", version_string(r.current_major, r.current_minor, r.current_build)},
           {"committed_version", version_string(r.committed_major, r.committed_minor, r.committed_build)},
           {"launch_tcb", tcb_json(r.launch_tcb, product)}};
    if (r.version >= 3) j["cpuid"] = {{"family", r.cpuid_fam_id}, {"model", r.cpuid_mod_id}, {"stepping", r.cpuid_step}};
    if (r.version >= 5) {
        j["launch_mit_vector"] = hex64(r.launch_mit_vector);
        j["current_mit_vector"] = hex64(r.current_mit_vector);
    }
    return j;
}

json hcl_to_json(const hcl::HclReport& h) {
    json runtime = json::parse(h.runtime_json, nullptr, false);
    return {{"hcl", {{"version", h.header_version},
                     {"report_size", h.report_size},
                     {"request_type", h.request_type},
                     {"status", h.status},
                     {"report_type", h.report_type},
                     {"hash_type", h.hash_type},
                     {"runtime_data_size", h.runtime_json.size()},
                     {"runtime_data", runtime.is_discarded() ? json(h.runtime_json) : runtime}}},
            {"report", report_to_json(h.snp)}};
}

std::string report_to_text(const snp::Report& r) {
    std::string out;
    const json j = report_to_json(r);
    for (const auto& [key, value] : j.items()) {
        std::string v;
        if (value.is_object() && value.contains("raw")) {
            v = value["raw"].get<std::string>();
            for (const auto& [k, x] : value.items()) {
                if (k != "raw") v += " " + k + "=" + x.dump();
            }
        } else if (value.is_object()) {
            for (const auto& [k, x] : value.items()) v += (v.empty() ? "" : " ") + k + "=" + x.dump();
        } else {
            v = value.is_string() ? value.get<std::string>() : value.dump();
        }
        out += key + ": " + v + "\n";
    }
    return out;
}

}  // namespace cvmunlock::cli
