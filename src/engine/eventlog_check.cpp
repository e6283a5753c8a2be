#include "eventlog_check.hpp"

#include "cvmunlock/event_decode.hpp"
#include "cvmunlock/pcr_json.hpp"
#include "file/read_file.hpp"

namespace cvmunlock::engine {

Result<EventLog> load_event_log(const std::string& path) {
    auto bytes = file::read_all(path);
    if (!bytes) {
        Error e = bytes.error();
        if (e.code == ErrorCode::Unavailable) e.message = "no event log: " + e.message;
        return std::unexpected(e);
    }
    auto log = parse_event_log(*bytes);
    if (!log) return std::unexpected(log.error().context(path));
    return log;
}

Result<PcrValues> load_expected_pcrs(const std::string& path) {
    auto bytes = file::read_all(path, 16u << 20);
    if (!bytes) return std::unexpected(bytes.error());
    auto values = pcr_values_from_json(std::string(bytes->begin(), bytes->end()));
    if (!values) return std::unexpected(values.error().context(path));
    return values;
}

namespace {
Result<EventLogCheck> replayed(EventLog log) {
    auto r = replay_event_log(log);
    if (!r) return std::unexpected(r.error());
    return EventLogCheck{std::move(log), std::move(*r), {}};
}
}  // namespace

Result<EventLogCheck> check_event_log(EventLog log, tpm::TpmContext& tpm, const CompareOptions& options) {
    auto check = replayed(std::move(log));
    if (!check) return check;
    auto banks = tpm.allocated_banks();
    if (!banks) return std::unexpected(banks.error());
    const auto pcrs = pcrs_to_compare(check->replayed, options);
    PcrSelection selection;
    for (HashAlg bank : *banks) {
        if (!options.bank || *options.bank == bank) selection[bank] = pcrs;
    }
    auto current = tpm.read_pcrs(selection);
    if (!current) return std::unexpected(current.error());
    auto cmp = compare_pcrs(check->replayed, *current, options);
    if (!cmp) return std::unexpected(cmp.error());
    check->comparison = std::move(*cmp);
    return check;
}

Result<EventLogCheck> check_event_log(EventLog log, const TpmTarget& target, const CompareOptions& options) {
    auto tpm = tpm::TpmContext::open(target.tcti, target.limits);
    if (!tpm) return std::unexpected(tpm.error());
    return check_event_log(std::move(log), **tpm, options);
}

BootCheck boot_check(const std::string& log_path, const TpmTarget& target) {
    BootCheck out;
    auto tpm = tpm::TpmContext::open(target.tcti, target.limits);
    if (!tpm) out.tpm_error = tpm.error();
    auto log = load_event_log(log_path);
    if (!log) out.log_error = log.error();
    if (tpm && log) {
        auto check = check_event_log(std::move(*log), **tpm, {});
        if (check) {
            out.check = std::move(*check);
        } else {
            out.check_error = check.error();
        }
    }
    return out;
}

Result<EventLogCheck> check_event_log(EventLog log, const PcrValues& reference, const CompareOptions& options) {
    auto check = replayed(std::move(log));
    if (!check) return check;
    auto cmp = compare_pcrs(check->replayed, reference, options);
    if (!cmp) return std::unexpected(cmp.error());
    check->comparison = std::move(*cmp);
    return check;
}

std::string comparison_summary(const EventLog& log, const Comparison& cmp, std::string_view source) {
    if (cmp.compared == 0) return "no PCR was compared";
    std::string out;
    for (const auto& m : cmp.mismatches) {
        out += out.empty() ? "" : "; ";
        out += std::string(hash_alg_name(m.bank)) + " PCR " + std::to_string(m.pcr);
        if (m.reference.empty()) {
            out += " (not present)";
        } else {
            out += " (last logged event " + (m.last_event ? describe_event(log, *m.last_event) : std::string("none")) + ")";
        }
    }
    if (out.empty()) return "the event log explains every compared PCR";
    return "the event log does not explain the " + std::string(source) + "'s " + out;
}

}  // namespace cvmunlock::engine
