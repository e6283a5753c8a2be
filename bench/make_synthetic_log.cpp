// cvmunlock_make_synthetic_log OUT [N]: writes the synthetic benchmark event
// log (bench/synthetic_log.hpp) with N records (default 100000), after checking
// that it parses back to N records and that no record's digest contradicts its
// event data.
#include <charconv>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>

#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/replay.hpp"
#include "synthetic_log.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int usage() {
    std::fprintf(stderr, "usage: cvmunlock_make_synthetic_log OUT [N]\n"
                         "  Writes a crypto-agile event log of N records (default %zu), Spec ID included.\n",
                 cvmunlock::bench::kDefaultSyntheticRecords);
    return kExitUsage;
}

// The serialized log must parse back to `records` records, each with a digest
// that matches its data wherever the PFP defines one.
bool self_check(const cvmunlock::Bytes& bytes, std::size_t records) {
    auto parsed = cvmunlock::parse_event_log(bytes);
    if (!parsed) {
        std::fprintf(stderr, "cvmunlock_make_synthetic_log: output does not parse: %s\n", parsed.error().message.c_str());
        return false;
    }
    if (parsed->events.size() != records) {
        std::fprintf(stderr, "cvmunlock_make_synthetic_log: output parses to %zu records, not %zu\n",
                     parsed->events.size(), records);
        return false;
    }
    for (std::size_t i = 0; i < parsed->events.size(); ++i) {
        if (cvmunlock::check_event_digest(parsed->events[i]) == cvmunlock::DigestCheck::Mismatch) {
            std::fprintf(stderr, "cvmunlock_make_synthetic_log: record %zu: digest does not match its data\n", i);
            return false;
        }
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) return usage();
    const std::string out_path = argv[1];
    std::size_t records = cvmunlock::bench::kDefaultSyntheticRecords;
    if (argc == 3) {
        const std::string_view arg = argv[2];
        auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), records);
        if (ec != std::errc() || end != arg.data() + arg.size() || records == 0) return usage();
    }
    auto log = cvmunlock::bench::build_synthetic_log(records);
    if (!log) {
        std::fprintf(stderr, "cvmunlock_make_synthetic_log: %s\n", log.error().message.c_str());
        return kExitFailure;
    }
    const cvmunlock::Bytes bytes = cvmunlock::serialize_event_log(*log);
    if (!self_check(bytes, records)) return kExitFailure;
    std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
        std::fprintf(stderr, "cvmunlock_make_synthetic_log: cannot write %s\n", out_path.c_str());
        return kExitFailure;
    }
    std::printf("%s: %zu records, %zu bytes\n", out_path.c_str(), records, bytes.size());
    return kExitOk;
}
