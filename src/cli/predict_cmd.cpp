#include "predict_cmd.hpp"

#include <CLI/CLI.hpp>
#include <sys/utsname.h>

#include <cstdio>
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
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
    UpdateSpecs updates;
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

// Where Linux shows the firmware's variables: NAME-GUID, four attribute bytes
// and then the content.
constexpr const char* kEfiVarsDir = "/sys/firmware/efi/efivars/";
constexpr const char* kGlobalVariableGuid = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
constexpr const char* kImageSecurityDatabaseGuid = "d719b2cb-3d3a-4596-a3bc-dad00e67656f";

// The variable as the firmware holds it now (an update applied in this boot
// takes effect, and is measured, at the next one); absent: empty, as the
// firmware measures an absent db or dbx.
Result<Bytes> read_firmware_variable(const std::string& name, std::string& path) {
    const bool global = name == "PK" || name == "KEK";
    path = std::string(kEfiVarsDir) + name + "-" + (global ? kGlobalVariableGuid : kImageSecurityDatabaseGuid);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) && !ec && std::filesystem::is_directory(kEfiVarsDir, ec)) return Bytes{};
    auto bytes = file::read_all(path);
    if (!bytes) return std::unexpected(bytes.error());
    if (bytes->size() < 4) return fail(ErrorCode::InvalidInput, path + ": shorter than its attributes");
    bytes->erase(bytes->begin(), bytes->begin() + 4);
    return bytes;
}

// The file that `logged` ("\EFI\BOOT\grubx64.efi", as the firmware named it)
// is under the ESP mounted at `esp`, each component matched without case as
// FAT does; nullopt when there is none.
std::optional<std::string> esp_file(const std::string& esp, const std::string& logged) {
    namespace fs = std::filesystem;
    fs::path at(esp);
    std::size_t start = 0;
    while (start <= logged.size()) {
        std::size_t end = logged.find('\\', start);
        if (end == std::string::npos) end = logged.size();
        const std::string part = logged.substr(start, end - start);
        start = end + 1;
        if (part.empty() || part == ".") continue;
        if (part == "..") return std::nullopt;
        std::error_code ec;
        if (fs::exists(at / part, ec)) {
            at /= part;
            continue;
        }
        std::optional<fs::path> match;
        for (const auto& entry : fs::directory_iterator(at, ec)) {
            const std::string name = entry.path().filename().string();
            if (name.size() == part.size() &&
                std::equal(name.begin(), name.end(), part.begin(), [](char a, char b) {
                    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
                })) {
                match = entry.path();
                break;
            }
        }
        if (!match) return std::nullopt;
        at = *match;
    }
    std::error_code ec;
    if (!fs::is_regular_file(at, ec)) return std::nullopt;
    return at.string();
}

}  // namespace

int load_updates(const std::string& command, const UpdateSpecs& specs, const std::string& eventlog,
                 LoadedUpdates& out) {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const std::string& u : specs.images) {
        const auto colon = u.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == u.size()) {
            return usage_error("--update: expected CURRENT:NEXT (two files), got '" + u + "'");
        }
        pairs.emplace_back(u.substr(0, colon), u.substr(colon + 1));
    }
    if (!specs.kernel.empty()) pairs.emplace_back(running_kernel(), specs.kernel);
    for (const auto& [current, next] : pairs) {
        auto a = file::read_all(current);
        if (!a) return report_error(command, a.error());  // read_all names the file
        auto b = file::read_all(next);
        if (!b) return report_error(command, b.error());
        out.files.push_back({current, next, std::move(*a), std::move(*b)});
    }
    if (!specs.esp.empty()) {
        auto log = load_event_log(eventlog);
        if (!log) return report_error(command, log.error());
        for (const std::string& logged : boot_chain_files(*log)) {
            auto file = esp_file(specs.esp, logged);
            if (!file) {
                return report_error(command, Error(ErrorCode::NotFound,
                                                   "--esp " + specs.esp + ": no file " + logged + ", which this "
                                                   "boot's firmware or shim loaded: the next boot cannot be predicted"));
            }
            auto bytes = file::read_all(*file);
            if (!bytes) return report_error(command, bytes.error());
            out.esp_files.push_back({logged, *file, std::move(*bytes)});
        }
    }
    for (const std::string& v : specs.variables) {
        const auto eq = v.find('=');
        LoadedVariable loaded{v.substr(0, eq), {}, {}, eq == std::string::npos};
        if (!is_secure_boot_policy_variable(loaded.name)) {
            return usage_error("--efi-variable: expected NAME or NAME=FILE with NAME one of PK, KEK, db, dbx, dbt, dbr; "
                               "got '" + v + "'");
        }
        for (const LoadedVariable& seen : out.variables) {
            if (seen.name == loaded.name) return usage_error("--efi-variable: " + loaded.name + " given twice");
        }
        if (eq == std::string::npos) {
            auto bytes = read_firmware_variable(loaded.name, loaded.source);
            if (!bytes) return report_error(command, bytes.error());
            loaded.data = std::move(*bytes);
        } else {
            loaded.source = v.substr(eq + 1);
            if (loaded.source.empty()) return usage_error("--efi-variable " + loaded.name + "=: no file named");
            auto bytes = file::read_all(loaded.source);
            if (!bytes) return report_error(command, bytes.error());
            loaded.data = std::move(*bytes);
        }
        out.variables.push_back(std::move(loaded));
    }
    for (const LoadedUpdate& l : out.files) {
        out.updates.images.push_back({l.current_name, l.current, l.next_name, l.next});
    }
    for (const LoadedEspImage& l : out.esp_files) out.updates.esp_images.push_back({l.logged_path, l.file, l.next});
    for (const LoadedVariable& l : out.variables) {
        out.updates.variables.push_back({l.name, l.source, l.data, l.from_firmware});
    }
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
    if (int rc = load_updates("predict", o.updates, o.log, loaded); rc != kExitOk) return rc;
    auto log = load_event_log(o.log);
    if (!log) return report_error("predict", log.error());
    auto p = predict_next_boot(*log, loaded.updates);
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
                                     {"variable", r.variable.empty() ? OutJson() : OutJson(r.variable)},
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
        if (r.variable.empty()) {
            std::printf("event %s: %s -> the next image's hash\n", describe_event(*log, r.index).c_str(),
                        r.image.c_str());
        } else {
            std::printf("event %s: %s -> the content of %s\n", describe_event(*log, r.index).c_str(),
                        r.variable.c_str(), r.image.c_str());
        }
    }
    return kExitOk;
}
}  // namespace

void add_predict_command(CLI::App& app, int& exit_code) {
    auto o = std::make_shared<PredictOptions>();
    CLI::App* cmd = app.add_subcommand(
        "predict", "Predict the PCRs of the next boot from this boot's event log and the EFI images about to change");
    add_eventlog_option(cmd, o->log, "This boot's event log (binary_bios_measurements format)");
    add_update_options(cmd, o->updates);
    add_pcr_bank_option(cmd, o->bank, "Bank to print (sha1, sha256, sha384, sha512, sm3_256; default sha256)");
    cmd->add_option("--pcrs", o->pcrs, "PCRs to print, e.g. 4,7 (default 4,7)");
    cmd->add_flag("--json", o->json, "Machine-readable output (docs/json.md)");
    cmd->footer(kExitCodeHelp);
    cmd->final_callback([o, &exit_code]() { exit_code = run_predict(*o); });
}

void add_update_options(CLI::App* cmd, UpdateSpecs& specs) {
    cmd->add_option("--update", specs.images,
                    "CURRENT:NEXT: the image this boot loaded (shim, grub, a kernel) and the one that replaces it; "
                    "repeatable");
    cmd->add_option("--kernel", specs.kernel, "The next kernel image (the current one: /boot/vmlinuz-$(uname -r))");
    cmd->add_option("--esp", specs.esp,
                    "DIR: the EFI system partition mounted there holds the next boot's shim and grub, at the paths "
                    "this boot's log names (after a package replaced them in place)");
    cmd->add_option("--efi-variable", specs.variables,
                    "NAME[=FILE]: the Secure Boot variable (db, dbx, KEK, PK) the next boot measures will hold FILE's "
                    "content, or without FILE what the firmware holds now (an update applied this boot); repeatable");
}

}  // namespace cvmunlock::cli
