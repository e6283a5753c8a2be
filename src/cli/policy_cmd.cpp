// The commands that admit a new boot without a passphrase (docs/updates.md):
// `cvmunlock update-policy DEVICE [--update CURRENT:NEXT]... [--kernel NEXT]`
// admits this boot (and the predicted next one) in a --nv-policy token's
// policy index, dropping every other branch; `cvmunlock sign-policy` signs one
// boot's PCR values for --policy-key tokens.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <memory>

#include "eventlog_cmd.hpp"
#include "exit_codes.hpp"
#include "output.hpp"
#include "../adapters/file/write_file.hpp"
#include "cvmunlock/policy_key.hpp"
#include "cvmunlock/replay.hpp"
#include "eventlog_load.hpp"
#include "policy_update.hpp"
#include "secret_input.hpp"
#include "volume_cmds.hpp"
#include "report_json.hpp"
#include "predict_cmd.hpp"
#include "tpm_options.hpp"

namespace cvmunlock::cli {

namespace {
struct UpdatePolicyOptions {
    std::string device, log = kDefaultEventLog, state_dir = engine::kDefaultStateDir;
    UpdateSpecs updates;
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
    if (int rc = load_updates("update-policy", o.updates, o.log, loaded); rc != kExitOk) return rc;
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
struct SignPolicyOptions {
    std::string private_key, pcrs = "7", bank = "sha256", from_eventlog, lock_pcr = "15", output;
    std::vector<std::string> pcr_values;
    bool json = false;
};

// The values to sign: --pcr-value first, else what --from-eventlog replays to;
// the lock PCR at its boot value.
int signed_values(const SignPolicyOptions& o, HashAlg bank, PcrBranch& out) {
    auto pcrs = parse_pcr_list(o.pcrs);
    if (!pcrs || pcrs->empty()) return usage_error("--pcrs: \"" + o.pcrs + "\" is not a list of PCRs 0..23");
    PcrBranch literal;
    for (const auto& v : o.pcr_values) {
        PcrBranch one;
        if (!parse_pcr_value(v, bank, one) || !pcrs->contains(one.begin()->first)) {
            return usage_error("--pcr-value: \"" + v + "\" is not N:" + o.bank + "=HEX for a PCR of --pcrs");
        }
        literal.insert_or_assign(one.begin()->first, std::move(one.begin()->second));
    }
    std::optional<ReplayResult> replayed;
    if (!o.from_eventlog.empty()) {
        auto log = load_event_log(o.from_eventlog);
        if (!log) return report_error("sign-policy", log.error());
        auto r = replay_event_log(*log);
        if (!r) return report_error("sign-policy", r.error().context(o.from_eventlog));
        replayed = std::move(*r);
    }
    for (std::uint32_t pcr : *pcrs) {
        if (auto l = literal.find(pcr); l != literal.end()) {
            out[pcr] = l->second;
            continue;
        }
        const auto* values = replayed && replayed->banks.contains(bank) ? &replayed->banks.at(bank) : nullptr;
        if (values == nullptr || !values->contains(pcr)) {
            return report_error("sign-policy", Error(ErrorCode::NotFound, "no value for PCR " + std::to_string(pcr) +
                                                                            ": give --pcr-value or --from-eventlog with its events"));
        }
        out[pcr] = values->at(pcr);
    }
    if (o.lock_pcr != "none") {
        auto lock = parse_pcr_list(o.lock_pcr);
        if (!lock || lock->size() != 1 || pcrs->contains(*lock->begin())) return usage_error("--lock-pcr: a PCR number not in --pcrs, or none");
        out[*lock->begin()] = pcr_initial_value(bank, *lock->begin(), std::nullopt);
    }
    return kExitOk;
}

int run_sign_policy(const SignPolicyOptions& o) {
    begin_output("sign-policy", o.json);
    auto bank = hash_alg_from_name(o.bank);
    if (!bank || (*bank != HashAlg::Sha256 && *bank != HashAlg::Sha384)) return usage_error("--pcr-bank: sha256 or sha384");
    PcrBranch values;
    if (int rc = signed_values(o, *bank, values); rc != kExitOk) return rc;
    auto key = read_secret_file(o.private_key);
    if (!key) return report_error("sign-policy", key.error());
    auto sig = sign_policy(*key, *bank, values);
    if (!sig) return report_error("sign-policy", sig.error().context(o.private_key));
    const std::string text = policy_signature_to_json(*sig).dump(2) + "\n";
    if (o.output.empty() || o.output == "-") {
        std::fputs(text.c_str(), stdout);
    } else if (auto w = file::write_atomic(o.output, ByteView(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), 0644); !w) {
        return report_error("sign-policy", w.error());
    }
    std::fprintf(stderr, "cvmunlock: signed %s PCRs", o.bank.c_str());
    for (const auto& [pcr, v] : values) std::fprintf(stderr, " %u", pcr);
    std::fprintf(stderr, " with key %s%s%s\n", to_hex(sig->key_name).c_str(), o.output.empty() ? "" : " -> ", o.output.c_str());
    return kExitOk;
}
}  // namespace

void add_sign_policy_command(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<SignPolicyOptions>();
    CLI::App* cmd = app.add_subcommand(
        "sign-policy", "Sign one boot's PCR values with the key of enroll --policy-key, so that boot unseals");
    cmd->add_option("--private-key", o->private_key, "RSA private key (PEM), kept by whoever admits boots")->required();
    cmd->add_option("--pcrs", o->pcrs, "The token's sealed PCRs, e.g. 4,7")->capture_default_str();
    add_pcr_bank_option(cmd, o->bank, "PCR bank: sha256 or sha384");
    cmd->add_option("--pcr-value", o->pcr_values, "PCR N's value: N:BANK=HEX (repeatable)");
    cmd->add_option("--from-eventlog", o->from_eventlog, "Sign the values this event log replays to (a reference boot's)");
    cmd->add_option("--lock-pcr", o->lock_pcr, "The token's lock PCR, signed at its boot value, or none")->capture_default_str();
    cmd->add_option("--output", o->output, "Where to write the signature (default stdout); unlock reads "
                                           "/etc/cvmunlock/policy-signatures/*.json");
    cmd->footer(kExitCodeHelp);
    cmd->final_callback([o, &exit_code]() { exit_code = run_sign_policy(*o); });
}

void add_update_policy_command(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<UpdatePolicyOptions>();
    CLI::App* cmd = app.add_subcommand(
        "update-policy", "Admit this boot, and the next one predicted from the images about to change, in the "
                         "policy index of a token enrolled with --nv-policy (no passphrase needed)");
    cmd->add_option("device", o->device, "LUKS2 device or image file")->required();
    add_update_options(cmd, o->updates);
    add_eventlog_option(cmd, o->log, "This boot's event log (binary_bios_measurements format)");
    cmd->add_option("--token", o->token, "The --nv-policy token to update (default: the only one)")->check(CLI::Range(0, 31));
    cmd->add_option("--state-dir", o->state_dir, "Where enroll --nv-policy kept the policy writer")->capture_default_str();
    add_tpm_options(cmd, o->tpm);
    cmd->add_flag("--json", o->json, "Machine-readable output (docs/json.md)");
    cmd->footer(kExitCodeHelp);
    cmd->final_callback([o, &exit_code]() { exit_code = run_update_policy(*o); });
}

}  // namespace cvmunlock::cli
