#include "unlock_cmd.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "eventlog_cmd.hpp"
#include "eventlog_load.hpp"
#include "exit_codes.hpp"
#include "output.hpp"
#include "secret_input.hpp"
#include "snp_options.hpp"
#include "tpm_options.hpp"
#include "unlock.hpp"

namespace cvmunlock::cli {

namespace {

struct UnlockOptions {
    std::string device, name, eventlog = kDefaultEventLog, pin_file;
    std::vector<std::string> policy_signatures;
    TpmOptions tpm;
    std::vector<std::string> snp_anchors, vcek;
    engine::ActivationOptions activation;
    bool test = false, json = false, key_to_stdout = false;
};

int check_usage(const UnlockOptions& o) {
    const int modes = int(o.test) + int(o.key_to_stdout) + int(!o.name.empty());
    if (modes == 0) return usage_error("give a NAME to activate, or --test, or --key-to-stdout");
    if (modes > 1) return usage_error("NAME, --test and --key-to-stdout exclude each other");
    if (o.key_to_stdout && o.json) return usage_error("--key-to-stdout writes only the key: no --json");
    const auto& a = o.activation;
    if (o.name.empty() && (a.allow_discards || a.readonly || a.same_cpu_crypt || a.submit_from_crypt_cpus ||
                           a.no_read_workqueue || a.no_write_workqueue)) {
        return usage_error("activation options need a NAME to activate");
    }
    return kExitOk;
}

int report(const UnlockOptions& o, const engine::Decision<engine::Unlocked>& r,
           const std::vector<std::uint32_t>& commands) {
    if (o.json) {
        OutJson doc = new_document();
        doc["device"] = o.device;
        doc["name"] = o.name.empty() ? OutJson() : OutJson(o.name);
        doc["test"] = o.test;
        doc["token"] = r ? OutJson(r->token) : r.error().token ? OutJson(*r.error().token) : OutJson();
        doc["keyslot"] = r ? OutJson(r->keyslot) : OutJson();
        doc["tpm_commands"] = commands.size();
        doc["tpm_command_codes"] = engine::tpm_command_json_names(commands);
        OutJson changes = OutJson::array();
        if (!r) {
            for (const auto& c : r.error().changes) changes.push_back(engine::pcr_change_json(c, r.error().bank));
        }
        doc["changed_pcrs"] = changes;
        doc["tried"] = r ? std::vector<std::string>{} : r.error().tried;
        const auto& snp = r ? r->snp : r.error().snp;
        doc["snp"] = snp ? engine::snp_verdict_json(*snp) : OutJson();
        if (!r) engine::set_error(doc, r.error());
        if (!r && r.error().reason != engine::Reason::NoToken) {
            std::fprintf(stderr, "cvmunlock: unlock %s: %s\n", o.device.c_str(), r.error().summary().c_str());
        }
        return finish(doc, true);
    }
    if (!r) {
        const engine::Refusal& e = r.error();
        if (e.reason == engine::Reason::NoToken) {
            std::fprintf(stderr, "cvmunlock: unlock %s: %s\n", o.device.c_str(), e.message.c_str());
            return engine::reason_info(e.reason).exit_code;
        }
        std::fprintf(stderr, "cvmunlock: unlock %s: %s\n", o.device.c_str(),
                     (e.token ? "token " + std::to_string(*e.token) + ": " + e.message : e.message).c_str());
        for (const auto& c : e.changes) std::fprintf(stderr, "cvmunlock:   %s\n", describe_change(c, e.bank).c_str());
        for (const auto& t : e.tried) std::fprintf(stderr, "cvmunlock:   also %s\n", t.c_str());
        return engine::reason_info(e.reason).exit_code;
    }
    if (o.key_to_stdout) {
        std::fwrite(r->passphrase.secret_bytes(), 1, r->passphrase.size(), stdout);
        std::fflush(stdout);
        return kExitOk;
    }
    if (r->snp) std::fprintf(stderr, "cvmunlock: %s\n", r->snp->summary.c_str());
    std::fprintf(stderr, "cvmunlock: %s %s with token %d (keyslot %d), %zu TPM commands\n", o.device.c_str(),
                 o.test ? "would unlock" : ("unlocked as " + o.name).c_str(), r->token, r->keyslot, commands.size());
    return kExitOk;
}

int run_unlock(const UnlockOptions& o) {
    begin_output("unlock", o.json);
    if (int rc = check_usage(o); rc != kExitOk) return rc;
    auto target = tpm_target(o.tpm);
    if (!target) return report_error("unlock", target.error());
    engine::UnlockRequest rq;
    rq.device = o.device;
    rq.tcti = target->tcti;
    rq.limits = target->limits;
    if (!o.name.empty()) rq.name = o.name;
    rq.activation = o.activation;
    rq.return_passphrase = o.key_to_stdout;
    rq.eventlog_path = o.eventlog;
    if (!o.policy_signatures.empty()) rq.policy_signatures = o.policy_signatures;
    rq.snp = snp_gate_config(o.snp_anchors);
    rq.snp.extra_certs = o.vcek;
    rq.pin = [&o]() -> std::optional<SecretBuffer> {
        auto pin = o.pin_file.empty() ? prompt_secret("PIN for " + o.device, "cvmunlock:" + o.device) : read_pin_file(o.pin_file);
        if (!pin) return std::nullopt;
        return std::move(*pin);
    };
    std::vector<std::uint32_t> commands;
    auto r = engine::unlock_volume(rq, &commands);
    return report(o, r, commands);
}
}  // namespace

int run_lock(const TpmOptions& tpm_options, std::uint32_t pcr, bool json_out);
int run_status(const std::string& device, const TpmOptions& tpm_options, bool json_out);

void add_unlock_commands(CLI::App& app, int& exit_code) {
    static UnlockOptions u;
    CLI::App* unlock = app.add_subcommand("unlock", "Unseal the key from the vTPM and activate (or --test) a LUKS2 volume");
    unlock->add_option("device", u.device, "LUKS2 device or image file")->required();
    unlock->add_option("name", u.name, "Device-mapper name to activate");
    unlock->add_flag("--test", u.test, "Check that the volume would unlock, without activating it");
    add_tpm_options(unlock, u.tpm);
    add_eventlog_option(unlock, u.eventlog, "Event log used to name what changed on a refusal");
    unlock->add_option("--policy-signature", u.policy_signatures,
                       "sign-policy file, or directory of *.json, for --policy-key tokens (repeatable; default "
                       "/etc/cvmunlock/policy-signatures)");
    unlock->add_option("--pin-file", u.pin_file, "Read the PIN from a file, or - for stdin (default: ask when needed)");
    add_snp_anchor_option(unlock, u.snp_anchors, "--snp-anchors");
    unlock->add_option("--vcek", u.vcek, "VCEK file (DER/PEM) to try after the certificate table and the token's copy");
    unlock->add_flag("--allow-discards", u.activation.allow_discards, "Activate with discards allowed (crypttab discard)");
    unlock->add_flag("--readonly", u.activation.readonly, "Activate read-only (crypttab readonly)");
    unlock->add_flag("--perf-same_cpu_crypt", u.activation.same_cpu_crypt, "dm-crypt same_cpu_crypt (crypttab same-cpu-crypt)");
    unlock->add_flag("--perf-submit_from_crypt_cpus", u.activation.submit_from_crypt_cpus,
                     "dm-crypt submit_from_crypt_cpus (crypttab submit-from-crypt-cpus)");
    unlock->add_flag("--perf-no_read_workqueue", u.activation.no_read_workqueue,
                     "dm-crypt no_read_workqueue (crypttab no-read-workqueue)");
    unlock->add_flag("--perf-no_write_workqueue", u.activation.no_write_workqueue,
                     "dm-crypt no_write_workqueue (crypttab no-write-workqueue)");
    unlock->add_flag("--json", u.json, "Machine-readable report, with the TPM commands sent (docs/json.md)");
    unlock->add_flag("--key-to-stdout", u.key_to_stdout,
                     "Write the checked keyslot passphrase to stdout instead of activating. UNSAFE against a hostile "
                     "host: whoever uses the key reads the header again, and the host can show it another one "
                     "(docs/threat-model.md). For manual use; boots activate with NAME");
    unlock->footer(kExitCodeHelp);
    unlock->final_callback([&exit_code]() { exit_code = run_unlock(u); });

    static TpmOptions lock_tpm;
    static std::uint32_t lock_pcr = 15;
    static bool lock_json = false;
    CLI::App* lock = app.add_subcommand("lock", "Extend the lock PCR so that nothing later in this boot can unseal");
    add_tpm_options(lock, lock_tpm);
    lock->add_option("--lock-pcr", lock_pcr, "The lock PCR the volumes were enrolled with")->capture_default_str()->check(CLI::Range(0, 23));
    lock->add_flag("--json", lock_json, "Machine-readable output (docs/json.md)");
    lock->footer(kExitCodeHelp);
    lock->final_callback([&exit_code]() { exit_code = run_lock(lock_tpm, lock_pcr, lock_json); });

    static std::string status_device;
    static TpmOptions status_tpm;
    static bool status_json = false;
    CLI::App* status = app.add_subcommand("status", "Show the cvmunlock tokens of a volume and whether their PCRs still match");
    status->add_option("device", status_device, "LUKS2 device or image file")->required();
    add_tpm_options(status, status_tpm);
    status->add_flag("--json", status_json, "Machine-readable output (docs/json.md)");
    status->footer(kExitCodeHelp);
    status->final_callback([&exit_code]() { exit_code = run_status(status_device, status_tpm, status_json); });
}

}  // namespace cvmunlock::cli
