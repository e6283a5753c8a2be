// `cvmunlock update-policy DEVICE [--update CURRENT:NEXT]... [--kernel NEXT]`:
// admits this boot (and the predicted next one) in a --nv-policy token's
// policy index, dropping every other branch.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "eventlog_cmd.hpp"
#include "exit_codes.hpp"
#include "output.hpp"
#include "policy_update.hpp"
#include "report_json.hpp"
#include "predict_cmd.hpp"
#include "tpm_options.hpp"

namespace cvmunlock::cli {

namespace {
struct UpdatePolicyOptions {
    std::string device, log = kDefaultEventLog, state_dir = engine::kDefaultStateDir;
    std::vector<std::string> updates;
    std::string kernel;
    std::optional<int> token;
    TpmOptions tpm;
    bool json = false;
};

OutJson branch_json(const PcrBranch& b) {
    OutJson o = OutJson::object();
    for (const auto& [pcr, v] : b) o[std::to_string(pcr)] = to_hex(v);
    return o;
}

int run_update_policy(const UpdatePolicyOptions& o) {
    begin_output("update-policy", o.json);
    LoadedUpdates loaded;
    if (int rc = load_updates("update-policy", o.updates, o.kernel, loaded); rc != kExitOk) return rc;
    auto target = tpm_target(o.tpm);
    if (!target) return report_error("update-policy", target.error());
    engine::PolicyUpdateRequest rq;
    rq.device = o.device;
    rq.tcti = target->tcti;
    rq.limits = target->limits;
    rq.token = o.token;
    rq.state_dir = o.state_dir;
    rq.eventlog_path = o.log;
    rq.updates = loaded.updates;
    auto updated = engine::update_policy(rq);
    if (!updated) return report_error("update-policy " + o.device, updated.error());
    if (!*updated) {
        // Like unlock on a volume without a token: nothing to do, said with its own exit code.
        const std::string message = o.device + " has no cvmunlock token enrolled with --nv-policy" +
                                    (o.token ? " with id " + std::to_string(*o.token) : std::string()) +
                                    ": nothing to update";
        if (!o.json) {
            std::fprintf(stderr, "cvmunlock: update-policy: %s\n", message.c_str());
            return kExitNoToken;
        }
        OutJson doc = new_document();
        engine::set_error(doc, kExitNoToken, "no-token", message);
        return finish(doc);
    }
    const auto& rep = *updated;
    char index[16];
    std::snprintf(index, sizeof index, "0x%08x", rep->index);
    if (o.json) {
        OutJson doc = new_document();
        doc["device"] = o.device;
        doc["token"] = rep->token;
        doc["nv_index"] = index;
        doc["current"] = branch_json(rep->current);
        doc["predicted"] = rep->predicted ? branch_json(*rep->predicted) : OutJson();
        doc["branches"] = rep->predicted ? 2 : 1;
        doc["dropped"] = rep->dropped;
        doc["written"] = rep->written;
        OutJson images = OutJson::array();
        for (const auto& r : rep->replaced) images.push_back(OutJson{{"index", r.index}, {"pcr", r.pcr}, {"image", r.image}});
        doc["replaced_events"] = images;
        return finish(doc);
    }
    std::fprintf(stderr, "cvmunlock: token %d, policy index %s: admits this boot%s%s; %zu older branch(es) dropped\n",
                 rep->token, index, rep->predicted ? " and the predicted next boot" : " only",
                 rep->written ? "" : " (unchanged)", rep->dropped);
    for (const auto& r : rep->replaced) {
        std::fprintf(stderr, "cvmunlock: predicted event #%zu (PCR %u): %s -> its successor\n", r.index, r.pcr, r.image.c_str());
    }
    return kExitOk;
}
}  // namespace

void add_update_policy_command(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<UpdatePolicyOptions>();
    CLI::App* cmd = app.add_subcommand(
        "update-policy", "Admit this boot, and the next one predicted from the images about to change, in the "
                         "policy index of a token enrolled with --nv-policy (no passphrase needed)");
    cmd->add_option("device", o->device, "LUKS2 device or image file")->required();
    add_update_options(cmd, o->updates, o->kernel);
    add_eventlog_option(cmd, o->log, "This boot's event log (binary_bios_measurements format)");
    cmd->add_option("--token", o->token, "The --nv-policy token to update (default: the only one)")->check(CLI::Range(0, 31));
    cmd->add_option("--state-dir", o->state_dir, "Where enroll --nv-policy kept the policy writer")->capture_default_str();
    add_tpm_options(cmd, o->tpm);
    cmd->add_flag("--json", o->json, "Machine-readable output (docs/json.md)");
    cmd->footer(kExitCodeHelp);
    cmd->final_callback([o, &exit_code]() { exit_code = run_update_policy(*o); });
}

}  // namespace cvmunlock::cli
