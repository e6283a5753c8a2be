#include "snp_check_cmd.hpp"

#include <CLI/CLI.hpp>

#include <openssl/rand.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "cvmunlock/snp_report.hpp"
#include "exit_codes.hpp"
#include "snp/configfs_tsm.hpp"
#include "snp/sev_guest.hpp"

namespace cvmunlock::cli {

namespace {

constexpr const char* kCheckFooter =
    "Exit codes: 0 when the check ran, whatever the platform (\"none\" is an answer, not a failure: read "
    "\"platform\" and \"verified\"); with --fetch, the fetch's failure code: 1 report refused (e.g. REPORT_DATA "
    "mismatch), 3 malformed report, 4 no usable source or the firmware/kernel failed. 2 usage error.";

std::string hex64(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

engine::OutJson paravisor_json(const snp::Paravisor& p) {
    return engine::OutJson{{"hypervisor", p.hypervisor},
                {"hyperv", p.hyperv},
                {"isolation", p.isolation_name},
                {"isolation_type", p.isolation_type},
                {"paravisor_present", p.paravisor_present}};
}

engine::OutJson cpuid_json(const snp::CpuidClaims& c) {
    return engine::OutJson{{"sev", c.sev},           {"sev_es", c.sev_es}, {"snp", c.snp},
                {"vmpl", c.vmpl},         {"c_bit", c.c_bit},   {"phys_addr_reduction", c.phys_addr_reduction},
                {"vmpl_count", c.vmpl_count}};
}

// Fetches one report with a random nonce from the first usable source. Sends
// exactly one guest request (two only for the certs-buffer-too-small case
// inside SevGuestSource); never repeats a failed one.
SnpCheckFetch fetch_for_vmpl(const snp::Detection& d) {
    SnpCheckFetch out;
    std::unique_ptr<snp::ReportSource> source;
    for (const snp::SourceStatus& s : d.sources) {
        if (!s.usable) continue;
        if (s.kind == snp::EvidenceKind::SevGuest) {
            auto dev = snp::open_guest_device(snp::kSevGuestDevice);
            if (!dev) {
                out.source = "sev-guest";
                out.error = dev.error().message;
                out.exit_code = exit_code_for(dev.error());
                return out;
            }
            source = std::make_unique<snp::SevGuestSource>(std::move(*dev));
        } else if (s.kind == snp::EvidenceKind::Tsm) {
            source = std::make_unique<snp::TsmSource>(snp::make_real_tsm_fs());
        } else {
            continue;  // azure-hcl is read by the engine through the TPM, not here
        }
        out.source = snp::evidence_kind_name(s.kind);
        break;
    }
    if (!source) {
        out.error = "no usable guest-request source (sev-guest, tsm)";
        out.exit_code = kExitUnavailable;
        return out;
    }
    snp::ReportData nonce{};
    if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) {
        out.error = "RAND_bytes failed";
        out.exit_code = kExitUnavailable;
        return out;
    }
    auto evidence = source->fetch(nonce);
    if (!evidence) {
        out.error = evidence.error().message;
        out.exit_code = exit_code_for(evidence.error());
        return out;
    }
    auto report = snp::parse_report(evidence->report);  // checked by the source already
    out.ok = report.has_value();
    if (report) out.vmpl = report->vmpl;
    return out;
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }

}  // namespace

engine::OutJson snp_check_json(const snp::Detection& d, const std::optional<SnpCheckFetch>& fetch) {
    using engine::OutJson;
    OutJson sources = OutJson::array();
    for (const auto& s : d.sources) {
        sources.push_back(OutJson{{"kind", snp::evidence_kind_name(s.kind)},
                               {"where", s.where},
                               {"usable", s.usable},
                               {"reason", s.reason}});
    }
    const std::optional<std::uint32_t> vmpl = fetch && fetch->vmpl ? fetch->vmpl : d.vmpl;
    OutJson out = engine::json_document("snp check");
    out["platform"] = snp::platform_name(d.platform);
    out["verified"] = d.verified;
    out["basis"] = snp::basis_name(d.basis);
    out["summary"] = d.summary;
    out["sev_status"] = d.sev_status ? OutJson(hex64(*d.sev_status)) : OutJson();
    out["snp_features"] = d.snp_features;
    out["cpuid"] = cpuid_json(d.cpuid);
    out["vmpl"] = vmpl ? OutJson(*vmpl) : OutJson();
    out["vmpl_basis"] = vmpl ? "a report requested at this VMPL was returned" : "unknown";
    out["paravisor"] = paravisor_json(d.paravisor);
    out["sources"] = sources;
    out["notes"] = d.notes;
    out["fetch"] = nullptr;
    if (fetch) {
        out["fetch"] = OutJson{{"source", fetch->source.empty() ? OutJson() : OutJson(fetch->source)},
                               {"ok", fetch->ok},
                               {"error", fetch->ok ? OutJson() : OutJson(fetch->error)}};
        if (!fetch->ok) engine::set_error(out, fetch->exit_code, "snp-fetch", fetch->error);
    }
    return out;
}

std::string snp_check_text(const snp::Detection& d, const std::optional<SnpCheckFetch>& fetch) {
    std::string s;
    s += "Platform:     " + d.summary + "\n";
    s += "Verdict from: " + std::string(snp::basis_name(d.basis)) +
         (d.verified ? " (verified)\n" : " (not verified)\n");
    s += "SEV_STATUS:   " + (d.sev_status ? hex64(*d.sev_status) : std::string("not read")) + "\n";
    if (!d.snp_features.empty()) {
        s += "SNP features:";
        for (const auto& f : d.snp_features) s += " " + f;
        s += "\n";
    }
    s += "CPUID claims: sev=" + yes_no(d.cpuid.sev) + " sev-es=" + yes_no(d.cpuid.sev_es) +
         " snp=" + yes_no(d.cpuid.snp) + " (unverified)\n";
    const std::optional<std::uint32_t> vmpl = fetch && fetch->vmpl ? fetch->vmpl : d.vmpl;
    s += "VMPL:         " +
         (vmpl ? std::to_string(*vmpl) : std::string("unknown (use --fetch on an SNP guest)")) + "\n";
    s += "Paravisor:    " + (d.paravisor.hyperv ? "Hyper-V, isolation " + d.paravisor.isolation_name +
                                                      (d.paravisor.paravisor_present ? ", paravisor present" : "")
                                                : std::string("none")) +
         (d.paravisor.hypervisor.empty() ? "" : " (hypervisor: " + d.paravisor.hypervisor + ")") + "\n";
    s += "Evidence sources:\n";
    for (const auto& src : d.sources) {
        char line[64];
        std::snprintf(line, sizeof line, "  %-10s %-8s ", snp::evidence_kind_name(src.kind),
                      src.usable ? "usable" : "unusable");
        s += line + src.reason + "\n";
    }
    if (fetch) {
        s += "Fetch:        " + (fetch->source.empty() ? std::string("-") : fetch->source) + ": " +
             (fetch->ok ? std::string("report returned, REPORT_DATA matches the nonce") : fetch->error) + "\n";
    }
    for (const auto& n : d.notes) s += "Note: " + n + "\n";
    return s;
}

int snp_check_exit_code(const std::optional<SnpCheckFetch>& fetch) {
    if (fetch && !fetch->ok) return fetch->exit_code;
    return kExitOk;
}

void add_snp_check_command(CLI::App& snp, int& exit_code) {
    struct Options {
        bool json = false;
        bool fetch = false;
    };
    auto opts = std::make_shared<Options>();
    CLI::App* check = snp.add_subcommand(
        "check", "Detect SEV / SEV-ES / SEV-SNP (SEV_STATUS MSR, CPUID, devices), the Hyper-V paravisor and "
                 "the usable evidence sources. CPUID alone is never taken as proof.");
    check->add_flag("--json", opts->json, "Machine-readable output");
    check->add_flag("--fetch", opts->fetch,
                    "Fetch one report with a random nonce from the first usable source to learn the VMPL "
                    "(without it nothing talks to the firmware)");
    check->footer(kCheckFooter);
    check->final_callback([opts, &exit_code]() {
        auto fs = snp::make_real_tsm_fs();
        const snp::RawEnvironment raw = snp::read_environment(snp::EnvironmentPaths{}, *fs);
        const snp::Detection d = snp::classify_environment(raw);
        std::optional<SnpCheckFetch> fetch;
        if (opts->fetch) fetch = fetch_for_vmpl(d);
        if (opts->json) {
            engine::print_json(snp_check_json(d, fetch));
        } else {
            std::cout << snp_check_text(d, fetch);
        }
        exit_code = snp_check_exit_code(fetch);
    });
}

}  // namespace cvmunlock::cli
