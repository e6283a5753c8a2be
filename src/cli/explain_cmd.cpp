// `cvmunlock explain DEVICE`: event by event, what differs between the boot
// each cvmunlock token was sealed for and this one (advisory: the token keeps
// digest prefixes in a host-writable header).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "cvmunlock/refusal.hpp"
#include "eventlog_cmd.hpp"
#include "eventlog_load.hpp"
#include "exit_codes.hpp"
#include "output.hpp"
#include "status.hpp"
#include "tpm_options.hpp"

namespace cvmunlock::cli {

namespace {
constexpr const char* kAdvisory =
    "advisory: the enrolled values and event digests come from the token, which the host can write; "
    "the vTPM alone decides whether a key unseals";

struct ExplainOptions {
    std::string device, log = kDefaultEventLog;
    TpmOptions tpm;
    bool json = false;
};

OutJson pcr_json(const engine::PcrState& p, const CvmToken& token, const EventLog* log) {
    OutJson events = OutJson::array();
    const bool changed = p.enrolled && p.current && *p.enrolled != *p.current;
    if (changed && !p.lock && log != nullptr) {
        for (const EventDifference& d : diff_events(token, *log, p.pcr)) {
            events.push_back(OutJson{{"change", d.added ? "added" : "removed"},
                                     {"index", d.event_index ? OutJson(*d.event_index) : OutJson()},
                                     {"digest_prefix", to_hex(d.digest_prefix)},
                                     {"event", d.text}});
        }
    }
    return OutJson{{"pcr", p.pcr},
                   {"is_lock_pcr", p.lock},
                   {"enrolled", p.enrolled ? OutJson(to_hex(*p.enrolled)) : OutJson()},
                   {"current", p.current ? OutJson(to_hex(*p.current)) : OutJson()},
                   {"changed", changed},
                   {"events", events}};
}

void print_pcr(const OutJson& p, const std::string& bank) {
    const int pcr = p["pcr"].get<int>();
    if (p["current"].is_null()) {
        std::printf("  PCR %d: not read from the vTPM\n", pcr);
    } else if (!p["changed"].get<bool>()) {
        std::printf("  PCR %d (%s): as enrolled\n", pcr, bank.c_str());
    } else if (p["is_lock_pcr"].get<bool>()) {
        std::printf("  lock PCR %d: extended (this boot ran `cvmunlock lock`, as every boot does after unlocking)\n", pcr);
    } else {
        std::printf("  PCR %d (%s): enrolled %s\n          now      %s\n", pcr, bank.c_str(),
                    p["enrolled"].get<std::string>().c_str(), p["current"].get<std::string>().c_str());
        for (const auto& e : p["events"]) {
            if (e["change"] == "added") {
                std::printf("    + %s\n", e["event"].get<std::string>().c_str());
            } else {
                std::printf("    - an event of the enrolled boot (digest %s...) is not in this boot's log\n",
                            e["digest_prefix"].get<std::string>().c_str());
            }
        }
        if (p["events"].empty()) std::printf("    (no event log, or no events recorded at enrollment)\n");
    }
}

int run_explain(const ExplainOptions& o) {
    begin_output("explain", o.json);
    auto target = tpm_target(o.tpm);
    if (!target) return report_error("explain " + o.device, target.error());
    auto status = engine::volume_status(o.device, *target);
    if (!status) return report_error("explain " + o.device, status.error());
    if (status->tokens.empty()) {
        const auto none = engine::status_refusal(*status);
        OutJson doc = new_document();
        engine::set_error(doc, *none);
        if (o.json) return finish(doc);
        std::fprintf(stderr, "cvmunlock: explain %s: %s\n", o.device.c_str(), none->summary().c_str());
        return engine::reason_info(none->reason).exit_code;
    }
    if (status->tpm_error) return report_error("explain " + o.device, *status->tpm_error);
    auto log = load_event_log(o.log);
    const EventLog* events = log ? &*log : nullptr;
    OutJson tokens = OutJson::array();
    for (const auto& t : status->tokens) {
        OutJson pcrs = OutJson::array();
        for (const auto& p : t.pcrs) pcrs.push_back(pcr_json(p, t.found.token, events));
        tokens.push_back(OutJson{{"token", t.found.id},
                                 {"keyslot", t.found.token.keyslot},
                                 {"pcr_bank", hash_alg_name(t.found.token.pcr_bank)},
                                 {"nv_policy", t.found.token.nv_policy.has_value()},
                                 {"srk_matches", t.srk_matches ? OutJson(*t.srk_matches) : OutJson()},
                                 {"pcrs", pcrs}});
    }
    if (o.json) {
        OutJson doc = new_document();
        doc["device"] = o.device;
        doc["advisory"] = kAdvisory;
        doc["eventlog"] = events != nullptr ? OutJson(o.log) : OutJson();
        doc["tokens"] = tokens;
        return finish(doc);
    }
    std::printf("%s: %s\n", o.device.c_str(), kAdvisory);
    if (events == nullptr) std::printf("(no event log at %s: PCRs only)\n", o.log.c_str());
    for (const auto& t : tokens) {
        std::printf("token %d -> keyslot %d%s\n", t["token"].get<int>(), t["keyslot"].get<int>(),
                    t["nv_policy"].get<bool>() ? " (policy index: compared with the boot it last admitted first)" : "");
        if (!t["srk_matches"].is_null() && !t["srk_matches"].get<bool>()) {
            std::printf("  the vTPM's storage root key is not the enrolled one (another or a reset vTPM)\n");
        }
        for (const auto& p : t["pcrs"]) print_pcr(p, t["pcr_bank"].get<std::string>());
    }
    return kExitOk;
}
}  // namespace

void add_explain_command(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<ExplainOptions>();
    CLI::App* cmd = app.add_subcommand(
        "explain", "List, event by event, what differs between the boot each cvmunlock token was sealed for and this one");
    cmd->add_option("device", o->device, "LUKS2 device or image file")->required();
    add_eventlog_option(cmd, o->log, "This boot's event log (binary_bios_measurements format)");
    add_tpm_options(cmd, o->tpm);
    cmd->add_flag("--json", o->json, "Machine-readable output (docs/json.md)");
    cmd->footer(kExitCodeHelp);
    cmd->final_callback([o, &exit_code]() { exit_code = run_explain(*o); });
}

}  // namespace cvmunlock::cli
