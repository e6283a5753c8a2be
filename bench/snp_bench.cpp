// SEV-SNP verification on the unlock path, on real vectors: parsing a report,
// loading the certificates, and the whole offline verification (chain to the
// ARK, ECDSA P-384 signature, TCB and chip-id checks) plus policy evaluation.
#include <benchmark/benchmark.h>

#include <ctime>
#include <string>

#include "../src/adapters/file/read_file.hpp"
#include "cvmunlock/snp_policy.hpp"
#include "cvmunlock/snp_verify.hpp"

namespace {
using namespace cvmunlock;

const std::string kDir = CVMUNLOCK_BENCH_SNP_DIR;

Bytes load(const std::string& rel) {
    auto b = file::read_all(kDir + "/" + rel);
    if (!b) std::abort();
    return *b;
}

struct Vectors {
    Bytes report = load("go-sev-guest/attestation.bin");
    Bytes vcek = load("go-sev-guest/vcek.testcer");
    Bytes roots = load("amd-roots/ask_ark_milan.pem");
};

const Vectors& vectors() {
    static const Vectors v;
    return v;
}

void BM_ParseReport(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(snp::parse_report(vectors().report));
}
BENCHMARK(BM_ParseReport);

void BM_LoadTrustStore(benchmark::State& state) {
    for (auto _ : state) {
        snp::TrustStore trust;
        benchmark::DoNotOptimize(trust.add(vectors().roots, "roots"));
    }
}
BENCHMARK(BM_LoadTrustStore)->Unit(benchmark::kMicrosecond);

void BM_VerifyReportAndPolicy(benchmark::State& state) {
    snp::TrustStore trust;
    if (!trust.add(vectors().roots, "roots")) std::abort();
    auto report = snp::parse_report(vectors().report);
    auto vcek = snp::Certificate::load_all(vectors().vcek, "vcek");
    if (!report || !vcek) std::abort();
    snp::Policy policy;
    policy.allow_debug = true;  // the vector is a debug guest
    const std::time_t at = 1700000000;
    for (auto _ : state) {
        auto chain = snp::verify_report(vectors().report, *report, *vcek, trust, at);
        if (!chain) state.SkipWithError(chain.error().detail.c_str());
        benchmark::DoNotOptimize(snp::evaluate_policy(*report, chain->product, policy));
    }
}
BENCHMARK(BM_VerifyReportAndPolicy)->Unit(benchmark::kMicrosecond);
}  // namespace
