// Shared by the cli_snp_*_test.cpp suites: the vectors, the mutated and self-made
// inputs made once (Fixtures), and helpers that run `cvmunlock snp ...` as a user does.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/hash.hpp"
#include "process.hpp"
#include "temp_dir.hpp"
#include "snp_test_chain.hpp"


namespace cvmunlock::cli_snp_test {

using nlohmann::json;
using testing::ProcessResult;
using testing::run_process;

const std::string kSnp = std::string(CVMUNLOCK_TEST_DATA) + "/snp";
const std::string kRoots = CVMUNLOCK_SNP_ROOTS;  // the shipped data/amd-roots of the source tree

// Report layout (SEV-SNP ABI spec, ATTESTATION_REPORT): offsets the tests read or mutate.
constexpr std::size_t kVersion = 0x000;
constexpr std::size_t kPolicy = 0x008;
constexpr std::size_t kVmpl = 0x030;
constexpr std::size_t kSignerInfo = 0x048;
constexpr std::size_t kReportData = 0x050;
constexpr std::size_t kMeasurement = 0x090;
constexpr std::size_t kReportedTcb = 0x180;
constexpr std::size_t kChipId = 0x1A0;
constexpr std::size_t kSigned = 0x2A0;  // signature R; bytes before it are signed
constexpr std::uint64_t kDebugBit = 1ULL << 19;
// Azure HCL report: SNP report at 0x20, IGVM request data at 0x4C0, runtime JSON at 0x4D4.
constexpr std::size_t kHclSnp = 0x20;
constexpr std::size_t kHclVariableSize = 0x4D0;
constexpr std::size_t kHclRuntime = 0x4D4;

inline std::string cli() { return CVMUNLOCK_CLI; }

inline std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline const std::uint8_t* u8(const std::string& s, std::size_t offset) {
    return reinterpret_cast<const std::uint8_t*>(s.data()) + offset;
}

inline std::string hex_of(const std::string& s, std::size_t offset, std::size_t n) { return to_hex(ByteView(u8(s, offset), n)); }

inline std::string hex64(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
    return buf;
}

inline std::string as_string(const Bytes& b) { return std::string(b.begin(), b.end()); }

using testing::TempDir;

// Files made once for every suite: the Genoa HCL report extracted from the
// evidence JSON, mutated vectors, and a self-made (Milan) chain with a report.
struct Fixtures {
    TempDir dir;
    std::string genoa_hcl;
    std::string vlek_byte42, vlek_byte384;
    std::string fake_report, fake_vcek, fake_chain, fake_ark_dir;

    Fixtures() {
        const json evidence = json::parse(read_all(kSnp + "/trustee/azure-evidence-genoa.json"));
        std::string hcl;
        for (const auto& b : evidence.at("report")) hcl.push_back(static_cast<char>(b.get<std::uint8_t>()));
        genoa_hcl = dir.write("genoa-hcl.bin", hcl);

        const std::string vlek = read_all(kSnp + "/trustee/test-vlek-report.bin");
        std::string m = vlek;
        m[42] = static_cast<char>(m[42] + 1);
        vlek_byte42 = dir.write("vlek-byte42.bin", m);
        m = vlek;
        m[384] = static_cast<char>(m[384] + 1);
        vlek_byte384 = dir.write("vlek-byte384.bin", m);

        const testing::TestChain chain;  // Milan ARK -> ASK -> VCEK, RSA keys made now
        snp::ReportData data{};
        data[0] = 0x5A;
        snp::Report report = chain.make_report(data);
        fake_report = dir.write("fake/report.bin", as_string(chain.sign(report)));
        fake_vcek = dir.write("fake/vcek.pem", as_string(chain.vcek_pem()));
        fake_chain = dir.write("fake/ask_ark.pem", as_string(chain.chain_pem()));
        fake_ark_dir = dir.sub("fake-anchors");
        dir.write("fake-anchors/ark.pem", as_string(chain.ark_pem()));
    }
};

inline const Fixtures& fixtures() {
    static const Fixtures f;
    return f;
}

inline ProcessResult verify(std::vector<std::string> args) {
    // No --snp-anchors: AMD's roots are compiled in.
    std::vector<std::string> argv{cli(), "snp", "verify"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv);
}

// The JSON a command prints, with its exit code added as "exit"; fails the test if it is not JSON.
inline json run_json(const std::vector<std::string>& argv) {
    const ProcessResult r = run_process(argv);
    json doc = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << r.out << r.err;
    if (doc.is_discarded()) doc = json::object();
    doc["exit"] = r.exit_code;
    return doc;
}

// --json output of a verification against the built-in roots.
inline json verify_json(std::vector<std::string> args, int& exit_code) {
    std::vector<std::string> argv{cli(), "snp", "verify", "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    json doc = run_json(argv);
    exit_code = doc["exit"].get<int>();
    doc.erase("exit");
    return doc;
}

inline std::set<std::string> checks_of(const json& doc) {
    std::set<std::string> out;
    for (const auto& r : doc.value("refusals", json::array())) out.insert(r.value("check", ""));
    return out;
}

inline json report_json(const std::string& path) {
    const ProcessResult r = run_process({cli(), "snp", "report", path, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const json doc = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << r.out;
    return doc.is_discarded() ? json::object() : doc;
}

// ---------------------------------------------------------------- verdicts

}  // namespace cvmunlock::cli_snp_test
