#include "snp_cmd.hpp"

#include <cstdio>
#include <ctime>
#include <iostream>

#include "../adapters/file/read_file.hpp"
#include "cvmunlock/hcl_report.hpp"
#include "cvmunlock/snp_policy.hpp"
#include "cvmunlock/snp_verify.hpp"
#include "exit_codes.hpp"
#include "output.hpp"
#include "snp_check_cmd.hpp"
#include "snp_options.hpp"
#include "snp_report_json.hpp"

namespace cvmunlock::cli {

namespace {
using json = nlohmann::ordered_json;

constexpr std::size_t kMaxInput = 1 << 20;

struct VerifyOptions {
    std::string report, at;
    std::vector<std::string> certs;
    SnpPolicyOptions policy;
    bool json = false;
};

// RFC 3339 in UTC or with an offset: 2025-06-01T00:00:00Z, 2025-06-01T02:00:00+02:00.
// A date that does not exist (2025-02-30) is refused, not carried into March.
std::optional<std::time_t> parse_rfc3339(const std::string& text) {
    std::tm tm{};
    const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == nullptr) return std::nullopt;
    std::tm check = tm;
    const std::time_t as_utc = timegm(&check);
    if (as_utc == static_cast<std::time_t>(-1) || check.tm_mday != tm.tm_mday || check.tm_mon != tm.tm_mon ||
        check.tm_year != tm.tm_year || check.tm_hour != tm.tm_hour || check.tm_min != tm.tm_min ||
        check.tm_sec != tm.tm_sec) {
        return std::nullopt;
    }
    long offset = 0;
    if (*rest == '.') {
        ++rest;
        while (*rest >= '0' && *rest <= '9') ++rest;
    }
    if ((*rest == 'Z' || *rest == 'z') && rest[1] == '\0') {
        offset = 0;
    } else if ((*rest == '+' || *rest == '-') && std::strlen(rest) == 6 && rest[3] == ':') {
        int h = 0, m = 0;
        if (std::sscanf(rest + 1, "%2d:%2d", &h, &m) != 2 || h > 23 || m > 59) return std::nullopt;
        offset = (*rest == '+' ? 1 : -1) * (h * 3600L + m * 60L);
    } else {
        return std::nullopt;
    }
    return timegm(&tm) - offset;
}

struct Outcome {
    int code = kExitOk;
    std::optional<Error> input;                                 // an input that could not be used
    std::vector<std::pair<std::string, std::string>> refusals;  // check, detail
    json chain, hcl;                                            // null until known
    std::string summary;
};

int print(const Outcome& o, const std::string& report_path, bool as_json) {
    if (as_json) {
        json doc = new_document();
        doc["report"] = report_path.empty() ? json() : json(report_path);
        doc["chain"] = o.chain;
        doc["hcl"] = o.hcl;
        json list = json::array();
        for (const auto& [check, detail] : o.refusals) list.push_back({{"check", check}, {"detail", detail}});
        doc["refusals"] = list;
        doc["summary"] = o.summary.empty() ? json() : json(o.summary);
        if (o.input) {
            engine::set_error(doc, *o.input, o.code);
        } else if (o.code != kExitOk) {
            const auto& [check, detail] = o.refusals.front();
            engine::set_error(doc, o.code, "snp-refused", check + ": " + detail);
        }
        return finish(doc);
    }
    if (o.input) {
        std::fprintf(stderr, "cvmunlock: %s\n", o.input->message.c_str());
    } else if (o.code == kExitOk) {
        std::cout << "valid: " << o.summary << "\n";
    } else {
        for (const auto& [check, detail] : o.refusals) std::fprintf(stderr, "cvmunlock: refused: %s: %s\n", check.c_str(), detail.c_str());
    }
    return o.code;
}

// Ends the command on an input that could not be used (exit 3 malformed, 4 unreadable).
int input_error(Outcome& o, const Error& e, const std::string& report_path, bool as_json) {
    o.code = exit_code_for(e);
    o.input = e;
    return print(o, report_path, as_json);
}

struct LoadedReport {
    Bytes raw;  // the 0x4A0-byte SNP report
    snp::Report report;
    std::optional<hcl::HclReport> hcl;
};

Result<LoadedReport> load_report(const std::string& path) {
    auto bytes = file::read_all(path, kMaxInput);
    if (!bytes) return std::unexpected(bytes.error());  // read_all names the path
    LoadedReport out;
    if (hcl::looks_like_hcl(*bytes)) {
        auto h = hcl::parse_hcl_report(*bytes);
        if (!h) return std::unexpected(h.error().context(path));
        out.raw = h->hw_report;
        out.report = h->snp;
        out.hcl = std::move(*h);
        return out;
    }
    auto r = snp::parse_report(*bytes);
    if (!r) return std::unexpected(r.error().context(path));
    out.raw = std::move(*bytes);
    out.report = *r;
    return out;
}

Result<std::vector<snp::Certificate>> load_certs(const std::vector<std::string>& paths) {
    std::vector<snp::Certificate> all;
    for (const auto& path : paths) {
        auto bytes = file::read_all(path, kMaxInput);
        if (!bytes) return std::unexpected(bytes.error());
        auto certs = snp::Certificate::load_all(*bytes, path);
        if (!certs) return std::unexpected(certs.error());
        for (auto& c : *certs) all.push_back(std::move(c));
    }
    return all;
}

json chain_json(const snp::VerifiedChain& chain) {
    json path = json::array();
    for (const auto& c : chain.path) path.push_back({{"role", snp::cert_role_name(c.role())}, {"subject", c.subject_cn()}});
    return {{"product", snp::product_name(chain.product)}, {"key", snp::cert_role_name(chain.key_role)}, {"path", path}};
}

void verify_loaded(Outcome& o, const LoadedReport& loaded, const std::vector<snp::Certificate>& certs,
                   const snp::TrustStore& trust, std::time_t at, const snp::Policy& policy) {
    if (loaded.hcl) {
        if (auto r = hcl::check_runtime_hash(*loaded.hcl); !r) o.refusals.emplace_back("binding", r.error().message);
        o.hcl = hcl_to_json(*loaded.hcl)["hcl"];
    }
    auto chain = snp::verify_report(loaded.raw, loaded.report, certs, trust, at);
    if (!chain) {
        o.refusals.emplace_back(chain.error().check, chain.error().detail);
        o.code = kExitRefused;
        return;
    }
    o.chain = chain_json(*chain);
    for (const auto& v : snp::evaluate_policy(loaded.report, chain->product, policy)) o.refusals.emplace_back(v.check, v.detail);
    o.code = o.refusals.empty() ? kExitOk : kExitRefused;
    if (o.code != kExitOk) return;
    o.summary = std::string(snp::product_name(chain->product)) + " report signed by the " +
                       snp::cert_role_name(chain->key_role) + ", chain to a trusted ARK, policy satisfied" +
                       (loaded.hcl ? ", HCL runtime data bound" : "");
}

int run_verify(const VerifyOptions& o, const std::vector<std::string>& anchors) {
    begin_output("snp verify", o.json);
    Outcome out;
    std::time_t at = std::time(nullptr);
    if (!o.at.empty()) {
        auto t = parse_rfc3339(o.at);
        if (!t) return usage_error("--at: \"" + o.at + "\" is not RFC 3339 (2025-06-01T00:00:00Z)");
        at = *t;
    }
    auto policy = snp_policy_from_options(o.policy);
    if (!policy) return usage_error(policy.error().message);
    auto trust = engine::load_trust_store(snp_gate_config(anchors));
    if (!trust) return input_error(out, trust.error(), o.report, o.json);
    auto certs = load_certs(o.certs);
    if (!certs) return input_error(out, certs.error(), o.report, o.json);
    if (o.report.empty()) {
        auto chain = snp::verify_chain(*certs, *trust, at);
        if (chain) {
            out.chain = chain_json(*chain);
            out.summary = std::string("certificate chain of the ") + snp::cert_role_name(chain->key_role) + " to a trusted ARK";
        } else {
            out.refusals.emplace_back(chain.error().check, chain.error().detail);
            out.code = kExitRefused;
        }
        return print(out, o.report, o.json);
    }
    auto loaded = load_report(o.report);
    if (!loaded) return input_error(out, loaded.error(), o.report, o.json);
    verify_loaded(out, *loaded, *certs, *trust, at, *policy);
    return print(out, o.report, o.json);
}

int run_report(const std::string& path, bool as_json) {
    begin_output("snp report", as_json);
    auto loaded = load_report(path);
    if (!loaded) return report_error("snp report", loaded.error());
    if (as_json) {
        json doc = new_document();
        doc["file"] = path;
        doc["report"] = report_to_json(loaded->report);
        doc["hcl"] = loaded->hcl ? hcl_to_json(*loaded->hcl)["hcl"] : json();
        return finish(doc);
    } else {
        if (loaded->hcl) std::cout << "HCL report (Azure vTPM NV 0x01400001), runtime data " << loaded->hcl->runtime_json.size() << " bytes\n";
        std::cout << report_to_text(loaded->report);
    }
    return kExitOk;
}
}  // namespace

void add_snp_commands(CLI::App& app, int& exit_code) {
    CLI::App* snp = app.add_subcommand("snp", "SEV-SNP guest environment: detect, verify reports offline");
    snp->require_subcommand(1);
    add_snp_check_command(*snp, exit_code);

    static VerifyOptions v;
    static std::vector<std::string> anchors;
    CLI::App* verify = snp->add_subcommand(
        "verify", "Verify an SNP report (raw or Azure HCL) and its VCEK/VLEK chain offline, and apply a policy");
    verify->add_option("--report", v.report, "Report file: raw ATTESTATION_REPORT or HCL report (without: chain only)");
    verify->add_option("--certs", v.certs, "DER or PEM file with one or more certificates, any order (repeatable)");
    verify->add_option("--at", v.at, "Verification time, RFC 3339 (default: now)");
    add_snp_anchor_option(verify, anchors, "--snp-anchors");
    add_snp_policy_options(verify, v.policy);
    verify->add_flag("--json", v.json, "Machine-readable verdict");
    verify->footer("Exit codes: 0 valid, 1 refused (the reason names the check: signature, chain, trust, expiry, tcb, "
                   "chip-id, min-tcb, debug, binding, ...), 2 usage, 3 malformed input, 4 an input file or the trust anchors cannot be read.");
    verify->callback([&exit_code] { exit_code = run_verify(v, anchors); });

    static std::string report_path;
    static bool report_json = false;
    CLI::App* report = snp->add_subcommand("report", "Print the decoded fields of an SNP or HCL report");
    report->add_option("file", report_path, "Report file")->required();
    report->add_flag("--json", report_json, "JSON output");
    report->callback([&exit_code] { exit_code = run_report(report_path, report_json); });
}

}  // namespace cvmunlock::cli
