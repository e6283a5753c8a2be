#include "unlock_cmd.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "eventlog_cmd.hpp"
#include "eventlog_load.hpp"
#include "exit_codes.hpp"
#include "secret_input.hpp"
#include "snp_options.hpp"
#include "tpm_names.hpp"
#include "unlock.hpp"

namespace cvmunlock::cli {

namespace {
using nlohmann::json;

struct UnlockOptions {
    std::string device, name, tpm, eventlog = kDefaultEventLog, pin_file;
    std::vector<std::string> snp_anchors, vcek;
    bool test = false, json = false, key_to_stdout = false;
};

json refusal_json(const engine::UnlockReport& rep, HashAlg bank) {
    json pcrs = json::array();
    for (const auto& c : rep.refusal.changes) {
        pcrs.push_back(json{{"pcr", c.pcr}, {"lock_pcr", c.lock_pcr}, {"enrolled", to_hex(c.enrolled)},
                            {"current", to_hex(c.current)}, {"event", c.event_text.empty() ? json() : json(c.event_text)},
                            {"message", describe_change(c, bank)}});
    }
    return pcrs;
}

int run_unlock(const UnlockOptions& o) {
    if (!o.test && !o.key_to_stdout && o.name.empty()) {
        std::fprintf(stderr, "cvmunlock: unlock: give a NAME to activate, or --test, or --key-to-stdout\n");
        return kExitUsage;
    }
    if (o.key_to_stdout && (o.json || !o.name.empty())) {
        std::fprintf(stderr, "cvmunlock: unlock: --key-to-stdout writes only the key: no NAME, no --json\n");
        return kExitUsage;
    }
    engine::UnlockRequest rq;
    rq.device = o.device;
    rq.tcti = tpm::resolve_tcti(o.tpm);
    if (!o.test && !o.key_to_stdout) rq.name = o.name;
    rq.return_passphrase = o.key_to_stdout;
    rq.eventlog_path = o.eventlog;
    rq.snp = snp_gate_config(o.snp_anchors);
    rq.snp.extra_certs = o.vcek;
    rq.pin = [&o]() -> std::optional<SecretBuffer> {
        auto pin = o.pin_file.empty() ? prompt_secret("PIN for " + o.device) : read_secret_file(o.pin_file);
        if (!pin) return std::nullopt;
        std::size_t n = 0;
        while (n < pin->size() && pin->secret_bytes()[n] != '\n') ++n;
        pin->resize(n);
        return std::move(*pin);
    };
    engine::UnlockReport rep;
    auto r = engine::unlock_volume(rq, rep);
    const HashAlg bank = rep.refusal.bank;
    if (o.json) {
        json codes = json::array();
        for (auto cc : rep.tpm_command_codes) codes.push_back(tpm_command_name(cc));
        json out{{"ok", r.has_value()},   {"device", o.device},  {"test", o.test},
                 {"token", rep.token},    {"keyslot", rep.keyslot},
                 {"tpm_commands", rep.tpm_command_codes.size()}, {"tpm_command_codes", codes},
                 {"reason", r ? json() : json(r.error().message)}, {"changed_pcrs", refusal_json(rep, bank)}};
        if (rep.refusal.snp) out["snp"] = snp_verdict_json(*rep.refusal.snp);
        std::cout << out.dump(2) << '\n';
    }
    if (!r) {
        for (const auto& c : rep.refusal.changes) std::fprintf(stderr, "cvmunlock: %s\n", describe_change(c, bank).c_str());
        return report_error("unlock " + o.device, r.error());
    }
    if (o.key_to_stdout) {
        // For initramfs-tools keyscripts (crypttab keyscript=): the checked keyslot passphrase, nothing else.
        std::fwrite(rep.passphrase.secret_bytes(), 1, rep.passphrase.size(), stdout);
        std::fflush(stdout);
        return kExitOk;
    }
    if (!o.json) {
        if (rep.refusal.snp) std::fprintf(stderr, "cvmunlock: %s\n", rep.refusal.snp->summary.c_str());
        std::fprintf(stderr, "cvmunlock: %s %s with token %d (keyslot %d), %zu TPM commands\n", o.device.c_str(),
                     o.test ? "would unlock" : ("unlocked as " + o.name).c_str(), rep.token, rep.keyslot,
                     rep.tpm_command_codes.size());
    }
    return kExitOk;
}
}  // namespace

int run_lock(const std::string& tpm_option, std::uint32_t pcr);
int run_status(const std::string& device, const std::string& tpm_option, bool json_out);

void add_unlock_commands(CLI::App& app, int& exit_code) {
    static UnlockOptions u;
    CLI::App* unlock = app.add_subcommand("unlock", "Unseal the key from the vTPM and activate (or --test) a LUKS2 volume");
    unlock->add_option("device", u.device, "LUKS2 device or image file")->required();
    unlock->add_option("name", u.name, "Device-mapper name to activate");
    unlock->add_flag("--test", u.test, "Check that the volume would unlock, without activating it");
    unlock->add_option("--tpm", u.tpm, "TCTI (default $CVMUNLOCK_TCTI or device:/dev/tpmrm0)");
    unlock->add_option("--eventlog", u.eventlog, "Event log used to name what changed on a refusal")->capture_default_str();
    unlock->add_option("--pin-file", u.pin_file, "Read the PIN from a file, or - for stdin (default: ask when needed)");
    add_snp_anchor_option(unlock, u.snp_anchors, "--snp-anchors");
    unlock->add_option("--vcek", u.vcek, "VCEK file (DER/PEM) to try after the certificate table and the token's copy");
    unlock->add_flag("--json", u.json, "Machine-readable report, with the TPM commands sent");
    unlock->add_flag("--key-to-stdout", u.key_to_stdout,
                     "Write the checked keyslot passphrase to stdout instead of activating (crypttab keyscripts)");
    unlock->footer(kExitCodeHelp);
    unlock->final_callback([&exit_code]() { exit_code = run_unlock(u); });

    static std::string lock_tpm;
    static std::uint32_t lock_pcr = 15;
    CLI::App* lock = app.add_subcommand("lock", "Extend the lock PCR so that nothing later in this boot can unseal");
    lock->add_option("--tpm", lock_tpm, "TCTI (default $CVMUNLOCK_TCTI or device:/dev/tpmrm0)");
    lock->add_option("--lock-pcr", lock_pcr, "The lock PCR the volumes were enrolled with")->capture_default_str()->check(CLI::Range(0, 23));
    lock->footer(kExitCodeHelp);
    lock->final_callback([&exit_code]() { exit_code = run_lock(lock_tpm, lock_pcr); });

    static std::string status_device, status_tpm;
    static bool status_json = false;
    CLI::App* status = app.add_subcommand("status", "Show the cvmunlock tokens of a volume and whether their PCRs still match");
    status->add_option("device", status_device, "LUKS2 device or image file")->required();
    status->add_option("--tpm", status_tpm, "TCTI (default $CVMUNLOCK_TCTI or device:/dev/tpmrm0)");
    status->add_flag("--json", status_json, "Machine-readable output");
    status->footer(kExitCodeHelp);
    status->final_callback([&exit_code]() { exit_code = run_status(status_device, status_tpm, status_json); });
}

}  // namespace cvmunlock::cli
