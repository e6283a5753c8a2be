#include "volume_cmds.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "enroll.hpp"
#include "../adapters/file/read_file.hpp"
#include "wipe.hpp"
#include "eventlog_cmd.hpp"
#include "eventlog_load.hpp"
#include "exit_codes.hpp"
#include "output.hpp"
#include "secret_input.hpp"
#include "snp_options.hpp"
#include "tpm_options.hpp"
#include "unlock_cmd.hpp"

namespace cvmunlock::cli {

namespace {
using nlohmann::json;

struct EnrollOptions {
    std::string device, pcrs = "7", bank = "sha256", from_eventlog, eventlog = kDefaultEventLog;
    std::vector<std::string> pcr_values;
    TpmOptions tpm;
    std::string lock_pcr = "15", unlock_key_file, pin_file;
    bool recovery = false, pin = false, persist_srk = false, json = false, nv_policy = false;
    std::string nv_index, state_dir = "/var/lib/cvmunlock", policy_key;
    std::vector<std::string> wipe_slots;
    std::string snp = "off", snp_evidence = "auto";
    std::vector<std::string> vcek, snp_anchors;
    SnpPolicyOptions snp_policy;
};

int usage(const std::string& what) { return usage_error(what); }

template <class T>
OutJson or_null(const std::optional<T>& v) {
    return v ? OutJson(*v) : OutJson();
}

}  // namespace

bool parse_pcr_value(const std::string& spec, HashAlg bank, std::map<std::uint32_t, Bytes>& out) {
    const auto colon = spec.find(':');
    const auto eq = spec.find('=');
    if (colon == std::string::npos || eq == std::string::npos || eq < colon) return false;
    auto pcr = parse_pcr_list(spec.substr(0, colon));
    auto alg = hash_alg_from_name(spec.substr(colon + 1, eq - colon - 1));
    auto value = from_hex(spec.substr(eq + 1));
    if (!pcr || pcr->size() != 1 || !alg || *alg != bank || !value || value->size() != hash_alg_size(bank)) return false;
    out[*pcr->begin()] = std::move(*value);
    return true;
}

namespace {

Result<std::optional<SecretBuffer>> read_pin(bool ask, const std::string& file) {
    if (!file.empty()) {
        auto pin = read_pin_file(file);
        if (!pin) return std::unexpected(pin.error());
        return std::optional<SecretBuffer>(std::move(*pin));
    }
    if (!ask) return std::optional<SecretBuffer>();
    auto pin = prompt_secret("PIN for the vTPM-sealed key");
    if (!pin) return std::unexpected(pin.error());
    return std::optional<SecretBuffer>(std::move(*pin));
}

int build_snp_requirement(const EnrollOptions& o, engine::EnrollRequest& rq) {
    if (o.snp == "off") return kExitOk;
    if (o.snp != "require") return usage("--snp: require or off");
    auto kind = snp::evidence_kind_from_name(o.snp_evidence);
    if (!kind || *kind == snp::EvidenceKind::File) return usage("--snp-evidence: auto, sev-guest, tsm or azure-hcl");
    auto policy = snp_policy_from_options(o.snp_policy);
    if (!policy) return usage(policy.error().message);
    rq.snp = SnpRequirement{*kind, std::move(*policy), {}};
    rq.snp_config = snp_gate_config(o.snp_anchors);
    rq.snp_config.extra_certs = o.vcek;
    return kExitOk;
}

int build_enroll_request(const EnrollOptions& o, engine::EnrollRequest& rq) {
    rq.device = o.device;
    auto bank = hash_alg_from_name(o.bank);
    if (!bank || (*bank != HashAlg::Sha256 && *bank != HashAlg::Sha384)) return usage("--pcr-bank: sha256 or sha384");
    rq.bank = *bank;
    auto pcrs = o.pcrs == "none" || o.pcrs.empty() ? std::optional<std::set<std::uint32_t>>(std::set<std::uint32_t>{})
                                                    : parse_pcr_list(o.pcrs);
    if (!pcrs) return usage("--pcrs: \"" + o.pcrs + "\" is not a list of PCRs 0..23");
    rq.pcrs.assign(pcrs->begin(), pcrs->end());
    for (const auto& v : o.pcr_values) {
        if (!parse_pcr_value(v, rq.bank, rq.literal_values)) return usage("--pcr-value: \"" + v + "\" is not N:" + o.bank + "=HEX");
    }
    for (const auto& [pcr, value] : rq.literal_values) {
        if (!pcrs->contains(pcr)) return usage("--pcr-value: PCR " + std::to_string(pcr) + " is not in --pcrs");
    }
    if (o.lock_pcr == "none") {
        rq.lock_pcr.reset();
    } else {
        auto lock = parse_pcr_list(o.lock_pcr);
        if (!lock || lock->size() != 1) return usage("--lock-pcr: a PCR number or none");
        rq.lock_pcr = *lock->begin();
        if (pcrs->contains(*rq.lock_pcr)) return usage("--lock-pcr: PCR " + o.lock_pcr + " is also in --pcrs");
    }
    if (rq.pcrs.empty() && !rq.lock_pcr) return usage("nothing to seal to: give --pcrs or a lock PCR");
    rq.predict_from_eventlog = o.from_eventlog;
    rq.eventlog_path = o.eventlog;
    rq.recovery_key = o.recovery;
    rq.persist_srk = o.persist_srk;
    rq.nv_policy = o.nv_policy;
    if (!o.policy_key.empty()) {
        auto pem = file::read_all(o.policy_key, 64 * 1024);
        if (!pem) return report_error("enroll", pem.error());
        rq.policy_key_pem.assign(pem->begin(), pem->end());
    }
    rq.state_dir = o.state_dir;
    if (!o.nv_index.empty()) {
        char* end = nullptr;
        const unsigned long v = std::strtoul(o.nv_index.c_str(), &end, 0);
        if (end == o.nv_index.c_str() || *end != '\0' || (v >> 24) != 0x01) {
            return usage("--nv-index: an NV index handle 0x01000000..0x01FFFFFF");
        }
        rq.nv_index = static_cast<std::uint32_t>(v);
    }
    if (!o.wipe_slots.empty()) {
        auto sel = engine::parse_slot_selection(o.wipe_slots);
        if (!sel) return usage("--wipe-slot: " + sel.error().message);
        rq.wipe_slots = std::move(*sel);
    }
    return build_snp_requirement(o, rq);
}

int run_enroll(const EnrollOptions& o) {
    begin_output("enroll", o.json);
    engine::EnrollRequest rq;
    if (int rc = build_enroll_request(o, rq); rc != kExitOk) return rc;
    auto target = tpm_target(o.tpm);
    if (!target) return report_error("enroll", target.error());
    rq.tcti = target->tcti;
    rq.limits = target->limits;
    auto key = o.unlock_key_file.empty() ? prompt_secret("Passphrase or key for " + o.device, "cvmunlock:" + o.device) : read_secret_file(o.unlock_key_file);
    if (!key) return report_error("enroll", key.error());
    rq.unlock_key = std::move(*key);
    auto pin = read_pin(o.pin, o.pin_file);
    if (!pin) return report_error("enroll", pin.error());
    if (*pin) rq.pin = std::move(**pin);

    engine::EnrollReport rep;
    if (auto r = engine::enroll_volume(rq, rep); !r) return report_error("enroll " + o.device, r.error());
    const ByteView recovery = rep.recovery_key.secret_view();
    if (o.json) {
        OutJson out = new_document();
        out["device"] = o.device;
        out["token"] = rep.token;
        out["keyslot"] = rep.keyslot;
        out["pcr_bank"] = hash_alg_name(rep.enrolled.pcr_bank);
        out["pcrs"] = rep.enrolled.pcrs;
        out["lock_pcr"] = or_null(rep.enrolled.lock_pcr);
        out["pin"] = rep.enrolled.pin.has_value();
        out["nv_index"] = rep.enrolled.nv_policy ? OutJson(rep.enrolled.nv_policy->index) : OutJson();
        out["recovery_keyslot"] = or_null(rep.recovery_keyslot);
        // The key is spliced in at output so that no std::string copy of it is left behind.
        constexpr const char* kMark = "@recovery-key@";
        out["recovery_key"] = rep.recovery_keyslot ? OutJson(kMark) : OutJson();
        out["marked_recovery_keyslot"] = or_null(rep.marked_recovery_keyslot);
        out["wiped_tokens"] = rep.wiped_tokens;
        out["wiped_keyslots"] = rep.wiped_keyslots;
        out["notes"] = rep.wipe_notes;
        out["snp"] = rep.snp ? engine::snp_verdict_json(*rep.snp) : OutJson();
        const std::string text = out.dump(2);
        const auto at = text.find(kMark);
        std::fwrite(text.data(), 1, at == std::string::npos ? text.size() : at, stdout);
        if (at != std::string::npos) {
            std::fwrite(recovery.data(), 1, recovery.size(), stdout);
            std::fputs(text.c_str() + at + std::strlen(kMark), stdout);
        }
        std::fputs("\n", stdout);
    } else {
        if (rep.snp) std::fprintf(stderr, "cvmunlock: %s\n", rep.snp->summary.c_str());
        std::fprintf(stderr, "cvmunlock: enrolled %s: token %d, keyslot %d, sealed to %s PCRs %s%s\n", o.device.c_str(),
                     rep.token, rep.keyslot, std::string(hash_alg_name(rep.enrolled.pcr_bank)).c_str(),
                     json(rep.enrolled.pcrs).dump().c_str(),
                     rep.enrolled.lock_pcr ? (" + lock PCR " + std::to_string(*rep.enrolled.lock_pcr)).c_str() : "");
        if (!rep.wiped_tokens.empty() || !rep.wiped_keyslots.empty()) {
            std::fprintf(stderr, "cvmunlock: --wipe-slot: removed token(s) %s and keyslot(s) %s\n",
                         json(rep.wiped_tokens).dump().c_str(), json(rep.wiped_keyslots).dump().c_str());
        }
        for (const auto& n : rep.wipe_notes) std::fprintf(stderr, "cvmunlock: %s\n", n.c_str());
        if (rep.marked_recovery_keyslot) {
            std::fprintf(stderr, "cvmunlock: keyslot %d, which the recovery key given opened, now carries a "
                                 "systemd-recovery token\n", *rep.marked_recovery_keyslot);
        }
        if (rep.recovery_keyslot) {
            std::fprintf(stderr, "cvmunlock: recovery key in keyslot %d; store it safely, it is shown only once:\n",
                         *rep.recovery_keyslot);
            std::fwrite(recovery.data(), 1, recovery.size(), stdout);
            std::fputs("\n", stdout);
        }
    }
    std::fflush(stdout);
    return kExitOk;
}

struct WipeOptions {
    std::string device, unlock_key_file, eventlog = kDefaultEventLog, state_dir = "/var/lib/cvmunlock";
    std::optional<int> token;
    TpmOptions tpm;
    bool json = false;
};

int run_wipe(const WipeOptions& o) {
    begin_output("wipe", o.json);
    auto target = tpm_target(o.tpm);
    if (!target) return report_error("wipe", target.error());
    engine::WipeRequest rq;
    rq.token = o.token;
    rq.tcti = target->tcti;
    rq.limits = target->limits;
    rq.eventlog_path = o.eventlog;
    rq.state_dir = o.state_dir;
    if (!o.unlock_key_file.empty()) {
        auto key = read_secret_file(o.unlock_key_file);
        if (!key) return report_error("wipe", key.error());
        rq.unlock_key = std::move(*key);
    }
    auto wiped = engine::wipe_tokens(o.device, rq);
    if (!wiped) return report_error("wipe " + o.device, wiped.error());
    for (const auto& n : wiped->kept) std::fprintf(stderr, "cvmunlock: %s\n", n.c_str());
    std::fprintf(stderr, "cvmunlock: removed token(s) %s and keyslot(s) %s; still opens with %s\n",
                 json(wiped->tokens).dump().c_str(), json(wiped->keyslots).dump().c_str(), wiped->way_in.c_str());
    if (!o.json) return kExitOk;
    OutJson doc = new_document();
    doc["device"] = o.device;
    doc["wiped_tokens"] = wiped->tokens;
    doc["wiped_keyslots"] = wiped->keyslots;
    doc["notes"] = wiped->kept;
    doc["way_in"] = wiped->way_in;
    return finish(doc);
}
}  // namespace

void add_volume_commands(CLI::App& app, int& exit_code) {
    static EnrollOptions e;
    CLI::App* enroll = app.add_subcommand("enroll", "Seal a new key to the vTPM and add it to a LUKS2 volume");
    enroll->add_option("device", e.device, "LUKS2 device or image file")->required();
    add_tpm_options(enroll, e.tpm);
    enroll->add_option("--pcrs", e.pcrs, "PCRs to seal to, e.g. 7 or 0,2,4,7 (none: only the lock PCR)")->capture_default_str();
    add_pcr_bank_option(enroll, e.bank, "PCR bank: sha256 or sha384");
    CLI::Option* pcr_value =
        enroll->add_option("--pcr-value", e.pcr_values, "Seal PCR N to this value instead: N:BANK=HEX (repeatable)");
    enroll->add_option("--from-eventlog", e.from_eventlog, "Seal to the PCR values this event log predicts")
        ->excludes(pcr_value);
    enroll->add_option("--eventlog", e.eventlog, "Event log whose digests are recorded to explain refusals")->capture_default_str();
    enroll->add_option("--lock-pcr", e.lock_pcr, "PCR that `cvmunlock lock` extends after boot, or none")->capture_default_str();
    enroll->add_option("--unlock-key-file", e.unlock_key_file, "File whose whole content opens an existing keyslot (default: ask)");
    enroll->add_flag("--recovery-key", e.recovery, "Also add a recovery key (printed once on stdout)");
    enroll->add_flag("--pin", e.pin, "Protect the sealed key with a PIN (asked on the terminal)");
    enroll->add_option("--pin-file", e.pin_file, "Read the PIN from a file, or - for stdin");
    enroll->add_flag("--persist-srk", e.persist_srk, "Make the storage root key persistent at 0x81000001");
    CLI::Option* nv = enroll->add_flag(
        "--nv-policy", e.nv_policy,
        "Seal under TPM2_PolicyAuthorizeNV on a new vTPM NV index holding the PCR policy, so that "
        "`cvmunlock update-policy` can admit the next boot after an update without a passphrase");
    enroll->add_option("--policy-key", e.policy_key,
                       "Seal under TPM2_PolicyAuthorize by this RSA public key (PEM): PCR values it signed "
                       "(cvmunlock sign-policy) unseal")
        ->excludes(nv);
    enroll->add_option("--nv-index", e.nv_index, "NV index handle for --nv-policy (default: first free of "
                                                 "0x01300000..0x013000ff)")->needs(nv);
    enroll->add_option("--state-dir", e.state_dir, "Where --nv-policy keeps the index's writer object (on the "
                                                   "encrypted root)")->capture_default_str();
    enroll->add_option("--wipe-slot", e.wipe_slots,
                       "After enrolling, wipe these keyslots (systemd-cryptenroll's values: all, empty, password, "
                       "recovery, tpm2, fido2, pkcs11, N; and cvmunlock: older cvmunlock tokens; comma-separated, "
                       "repeatable). Refused, writing nothing, when only cvmunlock tokens would open the volume")
        ->type_name("SLOTS");
    enroll->add_option("--snp", e.snp, "require: SEV-SNP evidence must verify and satisfy the policy before every "
                                       "unseal (checked now too); off: no SNP check")->capture_default_str();
    enroll->add_option("--snp-evidence", e.snp_evidence, "Where the evidence comes from: auto, sev-guest, tsm, azure-hcl")
        ->capture_default_str();
    enroll->add_option("--vcek", e.vcek, "VCEK (DER/PEM) when no certificate table is reachable; cached in the token");
    add_snp_anchor_option(enroll, e.snp_anchors, "--snp-anchors");
    add_snp_policy_options(enroll, e.snp_policy);
    enroll->add_flag("--json", e.json, "Machine-readable output");
    enroll->footer(kExitCodeHelp);
    enroll->final_callback([&exit_code]() { exit_code = run_enroll(e); });

    static WipeOptions wo;
    CLI::App* w = app.add_subcommand("wipe", "Remove cvmunlock tokens and their keyslots from a LUKS2 volume, "
                                             "never the last way in");
    w->add_option("device", wo.device, "LUKS2 device or image file")->required();
    w->add_option("--token", wo.token, "Only this token id (0..31, a cvmunlock token)")->check(CLI::Range(0, 31));
    w->add_option("--unlock-key-file", wo.unlock_key_file,
                  "A passphrase or recovery key that keeps opening the volume (default: a cvmunlock token that "
                  "is not removed and still unseals)");
    add_tpm_options(w, wo.tpm);
    w->add_option("--eventlog", wo.eventlog, "Event log used to name what changed on a refusal")->capture_default_str();
    w->add_option("--state-dir", wo.state_dir,
                  "Where enroll --nv-policy kept the policy writers: a removed token's policy index goes with its "
                  "writer file")->capture_default_str();
    w->add_flag("--json", wo.json, "Machine-readable output (docs/json.md)");
    w->footer(kExitCodeHelp);
    w->final_callback([&exit_code]() { exit_code = run_wipe(wo); });

    add_unlock_commands(app, exit_code);
}

}  // namespace cvmunlock::cli
