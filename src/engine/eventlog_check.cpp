#include "eventlog_check.hpp"

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

Result<EventLogCheck> check_event_log(EventLog log, const PcrValues& reference, const CompareOptions& options) {
    auto check = replayed(std::move(log));
    if (!check) return check;
    auto cmp = compare_pcrs(check->replayed, reference, options);
    if (!cmp) return std::unexpected(cmp.error());
    check->comparison = std::move(*cmp);
    return check;
}

}  // namespace cvmunlock::engine
