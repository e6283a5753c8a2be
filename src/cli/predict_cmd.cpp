#include "predict_cmd.hpp"

#include <CLI/CLI.hpp>
#include <sys/utsname.h>

#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cvmunlock/event_decode.hpp"
#include "cvmunlock/predict.hpp"
#include "eventlog_cmd.hpp"
#include "eventlog_load.hpp"
#include "exit_codes.hpp"
#include "output.hpp"
#include "../adapters/file/read_file.hpp"
#include "tpm_options.hpp"

namespace cvmunlock::cli {

namespace {

struct PredictOptions {
    std::string log = kDefaultEventLog;
    std::vector<std::string> updates;  // CURRENT:NEXT
    std::string kernel;                // NEXT for the running kernel
    std::string bank = "sha256";
    std::string pcrs = "4,7";
    bool json = false;
};

// The running kernel's image, where Debian and Ubuntu keep it.
std::string running_kernel() {
    struct utsname u {};
    if (uname(&u) != 0) return "/boot/vmlinuz";
    return std::string("/boot/vmlinuz-") + u.release;
}

}  // namespace

int load_updates(const std::string& command, const std::vector<std::string>& specs, const std::string& kernel,
                 LoadedUpdates& out) {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const std::string& u : specs) {
        const auto colon = u.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == u.size()) {
            return usage_error("--update: expected CURRENT:NEXT (two files), got '" + u + "'");
        }
        pairs.emplace_back(u.substr(0, colon), u.substr(colon + 1));
    }
    if (!kernel.empty()) pairs.emplace_back(running_kernel(), kernel);
    for (const auto& [current, next] : pairs) {
        auto a = file::read_all(current);
        if (!a) return report_error(command, a.error());  // read_all names the file
        auto b = file::read_all(next);
        if (!b) return report_error(command, b.error());
        out.files.push_back({current, next, std::move(*a), std::move(*b)});
    }
    for (const LoadedUpdate& l : out.files) out.updates.push_back({l.current_name, l.current, l.next_name, l.next});
    return kExitOk;
}

namespace {
int run_predict(const PredictOptions& o) {
    begin_output("predict", o.json);
    auto pcrs = parse_pcr_list(o.pcrs);
    if (!pcrs) return usage_error("--pcrs: expected a list of PCR indexes 0-23 such as 4,7, got '" + o.pcrs + "'");
    const auto bank = hash_alg_from_name(o.bank);
    if (!bank) return usage_error("--pcr-bank: unknown bank '" + o.bank + "'");
    LoadedUpdates loaded;
    if (int rc = load_updates("predict", o.updates, o.kernel, loaded); rc != kExitOk) return rc;
    auto log = load_event_log(o.log);
    if (!log) return report_error("predict", log.error());
    const auto& updates = loaded.updates;
    auto p = predict_image_updates(*log, updates);
    if (!p) return report_error("predict", p.error());
    const auto current_bank = p->current.find(*bank);
    const auto predicted_bank = p->predicted.find(*bank);
    if (current_bank == p->current.end() || predicted_bank == p->predicted.end()) {
        return report_error("predict", Error(ErrorCode::NotFound, o.log + ": the log records no " +
                                                                      std::string(hash_alg_name(*bank)) +
                                                                      " digests (--pcr-bank)"));
    }
    auto value_of = [&bank](const std::map<std::uint32_t, Bytes>& values, std::uint32_t pcr) {
        auto it = values.find(pcr);
        return it == values.end() ? pcr_initial_value(*bank, pcr, std::nullopt) : it->second;
    };

    if (o.json) {
        OutJson doc = new_document();
        doc["eventlog"] = o.log;
        doc["pcr_bank"] = o.bank;
        OutJson list = OutJson::array();
        for (std::uint32_t pcr : *pcrs) {
            const Bytes now = value_of(current_bank->second, pcr);
            const Bytes next = value_of(predicted_bank->second, pcr);
            list.push_back(OutJson{{"pcr", pcr}, {"current", to_hex(now)}, {"predicted", to_hex(next)},
                                   {"changed", now != next}});
        }
        doc["pcrs"] = list;
        OutJson events = OutJson::array();
        for (const ReplacedEvent& r : p->replaced) {
            auto logged = r.logged.find(*bank);
            auto predicted = r.predicted.find(*bank);
            events.push_back(OutJson{{"index", r.index},
                                     {"pcr", r.pcr},
                                     {"event", describe_event(*log, r.index)},
                                     {"image", r.image},
                                     {"logged", logged == r.logged.end() ? OutJson() : OutJson(to_hex(logged->second))},
                                     {"predicted",
                                      predicted == r.predicted.end() ? OutJson() : OutJson(to_hex(predicted->second))}});
        }
        doc["replaced_events"] = events;
        return finish(doc);
    }
    for (std::uint32_t pcr : *pcrs) {
        const Bytes now = value_of(current_bank->second, pcr);
        const Bytes next = value_of(predicted_bank->second, pcr);
        std::printf("PCR %-2u (%s) %s %s\n", pcr, o.bank.c_str(), now == next ? "unchanged" : "changes  ",
                    to_hex(next).c_str());
        if (now != next) std::printf("          was %s\n", to_hex(now).c_str());
    }
    for (const ReplacedEvent& r : p->replaced) {
        std::printf("event %s: %s -> the next image's hash\n", describe_event(*log, r.index).c_str(), r.image.c_str());
    }
    return kExitOk;
}
}  // namespace

void add_predict_command(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<PredictOptions>();
    CLI::App* cmd = app.add_subcommand(
        "predict", "Predict the PCRs of the next boot from this boot's event log and the EFI images about to change");
    add_eventlog_option(cmd, o->log, "This boot's event log (binary_bios_measurements format)");
    add_update_options(cmd, o->updates, o->kernel);
    add_pcr_bank_option(cmd, o->bank, "Bank to print (sha1, sha256, sha384, sha512, sm3_256; default sha256)");
    cmd->add_option("--pcrs", o->pcrs, "PCRs to print, e.g. 4,7 (default 4,7)");
    cmd->add_flag("--json", o->json, "Machine-readable output (docs/json.md)");
    cmd->footer(kExitCodeHelp);
    cmd->final_callback([o, &exit_code]() { exit_code = run_predict(*o); });
}

void add_update_options(CLI::App* cmd, std::vector<std::string>& updates, std::string& kernel) {
    cmd->add_option("--update", updates,
                    "CURRENT:NEXT: the image this boot loaded (shim, grub, a kernel) and the one that replaces it; "
                    "repeatable");
    cmd->add_option("--kernel", kernel, "The next kernel image (the current one: /boot/vmlinuz-$(uname -r))");
}

}  // namespace cvmunlock::cli
