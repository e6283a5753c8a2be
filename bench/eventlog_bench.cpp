// Google Benchmark suite for the event-log parser and replay (docs/benchmarks.md):
// parse, replay, and parse+replay of every real log under tests/data/eventlog
// and of the synthetic 100,000-record log, reported in bytes/s and events/s.
//
// The synthetic log is built in process unless CVMUNLOCK_BENCH_SYNTHETIC_LOG
// names a file to read instead (e.g. one written by cvmunlock_make_synthetic_log).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "../src/adapters/file/read_file.hpp"
#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/replay.hpp"
#include "synthetic_log.hpp"

namespace {

using cvmunlock::Bytes;
using cvmunlock::Result;

constexpr const char* kSyntheticLogEnv = "CVMUNLOCK_BENCH_SYNTHETIC_LOG";

struct Input {
    std::string name;
    Bytes bytes;
    std::size_t events = 0;  // records, the Spec ID header included
};

Result<Input> make_input(std::string name, Bytes bytes) {
    auto log = cvmunlock::parse_event_log(bytes);
    if (!log) return std::unexpected(log.error().context(name));
    const std::size_t events = log->events.size();
    return Input{std::move(name), std::move(bytes), events};
}

Result<Input> synthetic_input() {
    if (const char* path = std::getenv(kSyntheticLogEnv); path != nullptr && *path != '\0') {
        auto bytes = cvmunlock::file::read_all(path);
        if (!bytes) return std::unexpected(bytes.error());  // the message names the path
        return make_input("synthetic(file)", std::move(*bytes));
    }
    auto log = cvmunlock::bench::build_synthetic_log(cvmunlock::bench::kDefaultSyntheticRecords);
    if (!log) return std::unexpected(log.error());
    return make_input("synthetic", cvmunlock::serialize_event_log(*log));
}

// Every file one directory below tests/data/eventlog (go-tpm-tools/, qemu/, ...), sorted.
std::vector<std::filesystem::path> real_log_paths() {
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (const auto& dir : std::filesystem::directory_iterator(CVMUNLOCK_BENCH_EVENTLOG_DIR, ec)) {
        if (!dir.is_directory()) continue;
        for (const auto& entry : std::filesystem::directory_iterator(dir.path(), ec)) {
            if (entry.is_regular_file()) files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

Result<std::vector<Input>> load_inputs() {
    std::vector<Input> inputs;
    for (const auto& file : real_log_paths()) {
        auto bytes = cvmunlock::file::read_all(file.string());
        if (!bytes) return std::unexpected(bytes.error());
        auto input = make_input(file.parent_path().filename().string() + "/" + file.filename().string(), std::move(*bytes));
        if (!input) {
            // A deliberately malformed vector has nothing to measure.
            std::fprintf(stderr, "cvmunlock_bench: skipping %s\n", input.error().message.c_str());
            continue;
        }
        inputs.push_back(std::move(*input));
    }
    auto synthetic = synthetic_input();
    if (!synthetic) return std::unexpected(synthetic.error());
    inputs.push_back(std::move(*synthetic));
    return inputs;
}

void set_rates(benchmark::State& state, const Input& in) {
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(in.bytes.size()));
    state.counters["events/s"] =
        benchmark::Counter(static_cast<double>(in.events), benchmark::Counter::kIsIterationInvariantRate);
    state.counters["events"] = static_cast<double>(in.events);
}

void bm_parse(benchmark::State& state, const Input* in) {
    for ([[maybe_unused]] auto _ : state) {
        auto log = cvmunlock::parse_event_log(in->bytes);
        if (!log) {
            state.SkipWithError(log.error().message.c_str());
            return;
        }
        benchmark::DoNotOptimize(log);
    }
    set_rates(state, *in);
}

void bm_replay(benchmark::State& state, const Input* in) {
    auto log = cvmunlock::parse_event_log(in->bytes);
    if (!log) {
        state.SkipWithError(log.error().message.c_str());
        return;
    }
    for ([[maybe_unused]] auto _ : state) {
        auto replayed = cvmunlock::replay_event_log(*log);
        if (!replayed) {
            state.SkipWithError(replayed.error().message.c_str());
            return;
        }
        benchmark::DoNotOptimize(replayed);
    }
    set_rates(state, *in);
}

void bm_parse_replay(benchmark::State& state, const Input* in) {
    for ([[maybe_unused]] auto _ : state) {
        auto log = cvmunlock::parse_event_log(in->bytes);
        if (!log) {
            state.SkipWithError(log.error().message.c_str());
            return;
        }
        auto replayed = cvmunlock::replay_event_log(*log);
        if (!replayed) {
            state.SkipWithError(replayed.error().message.c_str());
            return;
        }
        benchmark::DoNotOptimize(replayed);
    }
    set_rates(state, *in);
}

void register_all(const std::vector<Input>& inputs) {
    for (const Input& in : inputs) {
        benchmark::RegisterBenchmark(("parse/" + in.name).c_str(), bm_parse, &in)->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("replay/" + in.name).c_str(), bm_replay, &in)->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("parse_replay/" + in.name).c_str(), bm_parse_replay, &in)
            ->Unit(benchmark::kMicrosecond);
        benchmark::AddCustomContext("log." + in.name,
                                    std::to_string(in.events) + " records, " + std::to_string(in.bytes.size()) + " bytes");
    }
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    auto inputs = load_inputs();
    if (!inputs) {
        std::fprintf(stderr, "cvmunlock_bench: %s\n", inputs.error().message.c_str());
        return 1;
    }
    register_all(*inputs);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
