#include "eventlog_cmd.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdio>
#include <iostream>

#include "cvmunlock/event_decode.hpp"
#include "cvmunlock/pcr_json.hpp"
#include "cvmunlock/replay.hpp"
#include "eventlog_load.hpp"
#include "eventlog_verify.hpp"
#include "exit_codes.hpp"
#include "output.hpp"
#include "tpm_options.hpp"

namespace cvmunlock::cli {

namespace {
using nlohmann::json;

const char* check_name(DigestCheck c) {
    switch (c) {
        case DigestCheck::NotApplicable: return "n/a";
        case DigestCheck::Match: return "ok";
        case DigestCheck::Mismatch: return "mismatch";
    }
    return "n/a";
}

std::string digest_bank_name(std::uint16_t alg_id) {
    if (auto alg = hash_alg_from_id(alg_id)) return std::string(hash_alg_name(*alg));
    char buf[16];
    std::snprintf(buf, sizeof buf, "alg_0x%04x", alg_id);
    return buf;
}

OutJson event_json(const Event& ev, std::size_t index) {
    OutJson digests = OutJson::object();
    for (const auto& d : ev.digests) digests[digest_bank_name(d.alg_id)] = to_hex(d.digest);
    const DigestCheck check = check_event_digest(ev);
    const json decoded = decode_event_data(ev);
    return OutJson{{"index", index},
                   {"offset", ev.offset},
                   {"pcr", ev.pcr},
                   {"type", ev.type},
                   {"type_name", event_type_name(ev.type)},
                   {"digests", digests},
                   {"data_size", ev.data.size()},
                   {"digest_check", check_name(check)},
                   {"untrusted", check == DigestCheck::Mismatch},
                   {"decoded", OutJson::parse(decoded.dump())}};
}

int run_show(const EventLogOptions& opts) {
    begin_output("eventlog show", opts.json);
    auto log = load_event_log(opts.log);
    if (!log) return report_error("eventlog show", log.error());
    if (opts.json) {
        OutJson events = OutJson::array();
        for (std::size_t i = 0; i < log->events.size(); ++i) events.push_back(event_json(log->events[i], i));
        OutJson algs = OutJson::array();
        if (log->spec_id) {
            for (const auto& a : log->spec_id->algorithms) algs.push_back(digest_bank_name(a.alg_id));
        } else {
            algs.push_back("sha1");
        }
        OutJson doc = new_document();
        doc["eventlog"] = opts.log;
        doc["format"] = log->format == LogFormat::Legacy ? "legacy" : "crypto-agile";
        doc["pcr_banks"] = algs;
        doc["event_count"] = log->events.size();
        doc["events"] = events;
        doc["trailing_padding"] = log->trailing_padding;
        return finish(doc);
    }
    std::printf("%s event log, %zu records\n", log->format == LogFormat::Legacy ? "Legacy (SHA-1)" : "Crypto-agile",
                log->events.size());
    for (std::size_t i = 0; i < log->events.size(); ++i) {
        const Event& ev = log->events[i];
        const DigestCheck check = check_event_digest(ev);
        const json decoded = decode_event_data(ev);
        std::printf("#%-4zu offset %-7zu PCR %-2u %-34s %s%s\n", i, ev.offset, ev.pcr, event_type_name(ev.type).c_str(),
                    decoded.value("summary", std::string()).c_str(),
                    check == DigestCheck::Mismatch ? "  [digest does not match data: content untrusted]" : "");
        for (const auto& d : ev.digests) {
            std::printf("        %-8s %s\n", digest_bank_name(d.alg_id).c_str(), to_hex(d.digest).c_str());
        }
    }
    return kExitOk;
}

int run_replay(const EventLogOptions& opts) {
    begin_output("eventlog replay", opts.json);
    auto log = load_event_log(opts.log);
    if (!log) return report_error("eventlog replay", log.error());
    auto result = replay_event_log(*log);
    if (!result) return report_error("eventlog replay", result.error().context(opts.log));
    if (opts.json) {
        OutJson doc = new_document();
        doc["eventlog"] = opts.log;
        doc["event_count"] = result->events;
        doc["startup_locality"] = result->startup_locality ? OutJson(*result->startup_locality) : OutJson();
        // The same {"banks": {...}} object `eventlog verify --expected` reads.
        doc["banks"] = OutJson::parse(pcr_values_to_json(result->banks)["banks"].dump());
        return finish(doc);
    }
    std::printf("%zu records", result->events);
    if (result->startup_locality) std::printf(", StartupLocality %u", *result->startup_locality);
    std::printf("\n");
    for (const auto& [alg, bank] : result->banks) {
        std::printf("%s:\n", std::string(hash_alg_name(alg)).c_str());
        for (const auto& [pcr, value] : bank) std::printf("  PCR %-2u %s\n", pcr, to_hex(value).c_str());
    }
    return kExitOk;
}
}  // namespace

std::optional<std::set<std::uint32_t>> parse_pcr_list(const std::string& list) {
    std::set<std::uint32_t> out;
    std::size_t pos = 0;
    while (pos <= list.size()) {
        std::size_t end = list.find_first_of(",+", pos);
        if (end == std::string::npos) end = list.size();
        const std::string item = list.substr(pos, end - pos);
        std::uint32_t v = 0;
        auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
        if (item.empty() || ec != std::errc() || p != item.data() + item.size() || v >= kPcrCount) return std::nullopt;
        out.insert(v);
        pos = end + 1;
    }
    return out;
}

void add_eventlog_commands(CLI::App& app, EventLogOptions& opts, int& exit_code) {
    CLI::App* ev = app.add_subcommand("eventlog", "Read, replay and verify the measured-boot event log");
    ev->require_subcommand(1);

    CLI::App* show = ev->add_subcommand("show", "Print the events of the log, decoded");
    CLI::App* replay = ev->add_subcommand("replay", "Replay the log and print the resulting PCR values");
    CLI::App* verify = ev->add_subcommand("verify", "Replay the log and compare it with the TPM's PCRs or a file");
    for (CLI::App* sub : {show, replay, verify}) {
        add_eventlog_option(sub, opts.log, "Event log (binary_bios_measurements format)");
        sub->add_flag("--json", opts.json, "Machine-readable output (docs/json.md)");
        sub->footer(kExitCodeHelp);
    }
    CLI::Option* tpm = verify->add_option("--tpm", opts.tpm.tcti,
                                          "Compare with this TPM (TCTI, e.g. swtpm:host=127.0.0.1,port=2321; "
                                          "--tpm alone: $CVMUNLOCK_TCTI or device:/dev/tpmrm0)");
    add_tpm_limit_options(verify, opts.tpm);
    CLI::Option* expected = verify->add_option("--expected", opts.expected,
                                               "Compare with PCR values from a JSON file {\"banks\": {...}}");
    tpm->excludes(expected);
    verify->add_option("--pcrs", opts.pcrs, "Only these PCRs, e.g. 0,2,4,7 or 0+7 (default: 0-7 and every PCR the log extends)");
    add_pcr_bank_option(verify, opts.bank, "Only this bank (sha1, sha256, sha384, sha512, sm3_256; default: every bank)");
    tpm->expected(0, 1);
    verify->parse_complete_callback([&opts, tpm, expected]() {
        if (tpm->count() == 0 && expected->count() == 0) throw CLI::RequiredError("--tpm or --expected");
        opts.use_tpm = tpm->count() > 0;
    });

    show->final_callback([&opts, &exit_code]() { exit_code = run_show(opts); });
    replay->final_callback([&opts, &exit_code]() { exit_code = run_replay(opts); });
    verify->final_callback([&opts, &exit_code]() { exit_code = run_verify(opts); });
}

}  // namespace cvmunlock::cli
