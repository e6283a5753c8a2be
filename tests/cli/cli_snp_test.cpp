// `cvmunlock snp verify` and `cvmunlock snp report` as a user runs them (black box):
// every SEV-SNP vector of tests/data/snp gets its documented verdict
// (tests/data/README.md), each refusal names its check, a chain ending in a
// self-made ARK is refused unless that ARK is a configured anchor.
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
#include "snp_test_chain.hpp"

namespace cvmunlock {
namespace {

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

std::string cli() { return CVMUNLOCK_CLI; }

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const std::uint8_t* u8(const std::string& s, std::size_t offset) {
    return reinterpret_cast<const std::uint8_t*>(s.data()) + offset;
}

std::string hex_of(const std::string& s, std::size_t offset, std::size_t n) { return to_hex(ByteView(u8(s, offset), n)); }

std::string hex64(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string as_string(const Bytes& b) { return std::string(b.begin(), b.end()); }

class TempDir {
public:
    TempDir() {
        char tpl[] = "/tmp/cvmunlock-cli-snp-XXXXXX";
        path_ = ::mkdtemp(tpl);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string write(const std::string& name, const std::string& content) const {
        const std::string p = path_ + "/" + name;
        std::filesystem::create_directories(std::filesystem::path(p).parent_path());
        std::ofstream(p, std::ios::binary) << content;
        return p;
    }
    std::string sub(const std::string& name) const {
        const std::string p = path_ + "/" + name;
        std::filesystem::create_directories(p);
        return p;
    }
    [[nodiscard]] const std::string& path() const { return path_; }

private:
    std::string path_;
};

// Files made once for every suite: the Genoa HCL report extracted from the
// evidence JSON, mutated vectors, and a self-made (Milan) chain with a report.
struct Fixtures {
    TempDir dir;
    std::string genoa_hcl;
    std::string vlek_byte42, vlek_byte384;
    std::string fake_report, fake_vcek, fake_chain, fake_ark_dir;
    std::string real_ark_only_dir;  // only the real ARK-Milan, no ASK

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

        // ask_ark_milan.pem holds the ASK then the ARK.
        const std::string pem = read_all(kRoots + "/ask_ark_milan.pem");
        const std::string begin = "-----BEGIN CERTIFICATE-----";
        real_ark_only_dir = dir.sub("real-ark-only");
        dir.write("real-ark-only/ark.pem", pem.substr(pem.rfind(begin)));
    }
};

const Fixtures& fixtures() {
    static const Fixtures f;
    return f;
}

ProcessResult verify(std::vector<std::string> args) {
    std::vector<std::string> argv{cli(), "snp", "verify", "--anchors", kRoots};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv);
}

// The JSON a command prints, with its exit code added as "exit"; fails the test if it is not JSON.
json run_json(const std::vector<std::string>& argv) {
    const ProcessResult r = run_process(argv);
    json doc = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << r.out << r.err;
    if (doc.is_discarded()) doc = json::object();
    doc["exit"] = r.exit_code;
    return doc;
}

// --json output of a verification against the shipped roots.
json verify_json(std::vector<std::string> args, int& exit_code) {
    std::vector<std::string> argv{cli(), "snp", "verify", "--anchors", kRoots, "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    json doc = run_json(argv);
    exit_code = doc["exit"].get<int>();
    doc.erase("exit");
    return doc;
}

std::set<std::string> checks_of(const json& doc) {
    std::set<std::string> out;
    for (const auto& r : doc.value("refusals", json::array())) out.insert(r.value("check", ""));
    return out;
}

json report_json(const std::string& path) {
    const ProcessResult r = run_process({cli(), "snp", "report", path, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const json doc = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << r.out;
    return doc.is_discarded() ? json::object() : doc;
}

// ---------------------------------------------------------------- verdicts

struct VerdictCase {
    std::string name;
    std::vector<std::string> args;
    int exit_code;
    std::string check;    // the (first) refusal; empty when valid
    std::string product;  // of the verified chain; empty when refused before one
    std::string key;      // role of the key at the end of the chain
};

std::vector<VerdictCase> verdict_cases() {
    const Fixtures& f = fixtures();
    const std::string gsg = kSnp + "/go-sev-guest/";
    const std::string tr = kSnp + "/trustee/";
    const std::string at_ok = "2025-06-01T00:00:00Z";
    return {
        {"go-sev-guest default policy", {"--report", gsg + "attestation.bin", "--certs", gsg + "vcek.testcer"}, 1, "debug", "Milan", "VCEK"},
        {"go-sev-guest --allow-debug",
         {"--report", gsg + "attestation.bin", "--certs", gsg + "vcek.testcer", "--allow-debug"}, 0, "", "Milan", "VCEK"},
        {"trustee test-report", {"--report", tr + "test-report.bin", "--certs", tr + "test-vcek.der"}, 0, "", "Milan", "VCEK"},
        // Their signatures do not verify with the Milan ASK (`openssl verify` agrees), so the chain fails first.
        {"trustee VCEK of another chip (legacy)",
         {"--report", tr + "test-report.bin", "--certs", tr + "test-vcek-invalid-legacy.der"}, 1, "chain", "", ""},
        {"trustee VCEK of another chip (new)",
         {"--report", tr + "test-report.bin", "--certs", tr + "test-vcek-invalid-new.der"}, 1, "chain", "", ""},
        {"VLEK before it expired", {"--report", tr + "test-vlek-report.bin", "--certs", tr + "test-vlek.der", "--at", at_ok}, 0, "", "Milan", "VLEK"},
        {"VLEK now (expired)", {"--report", tr + "test-vlek-report.bin", "--certs", tr + "test-vlek.der"}, 1, "expiry", "", ""},
        {"VLEK at 2026-01-01",
         {"--report", tr + "test-vlek-report.bin", "--certs", tr + "test-vlek.der", "--at", "2026-01-01T00:00:00Z"}, 1, "expiry", "", ""},
        {"VLEK +1 on byte 42", {"--report", f.vlek_byte42, "--certs", tr + "test-vlek.der", "--at", at_ok}, 1, "signature", "", ""},
        // REPORTED_TCB no longer matches the VLEK SPLs; checked before the signature.
        {"VLEK +1 on byte 384", {"--report", f.vlek_byte384, "--certs", tr + "test-vlek.der", "--at", at_ok}, 1, "tcb", "", ""},
        {"Azure HCL report (Milan)", {"--report", tr + "azure-hcl-report.bin", "--certs", tr + "azure-vcek.pem"}, 0, "", "Milan", "VCEK"},
        {"Azure HCL report (Genoa)", {"--report", f.genoa_hcl, "--certs", tr + "azure-vcek-genoa.pem"}, 0, "", "Genoa", "VCEK"},
        {"Turin chain only",
         {"--certs", kSnp + "/virtee-sev/vcek_turin.der", "--certs", kSnp + "/virtee-sev/cert_chain_turin"}, 0, "", "Turin", "VCEK"},
        {"self-made ARK", {"--report", f.fake_report, "--certs", f.fake_vcek, "--certs", f.fake_chain}, 1, "trust", "", ""},
        {"self-made ARK, chain only", {"--certs", f.fake_vcek, "--certs", f.fake_chain}, 1, "trust", "", ""},
        {"self-made ARK as a configured anchor",
         {"--report", f.fake_report, "--certs", f.fake_vcek, "--certs", f.fake_chain, "--anchors", f.fake_ark_dir}, 0, "", "Milan", "VCEK"},
        {"VCEK of the report's chip, not its signer",
         {"--report", tr + "test-report.bin", "--certs", gsg + "vcek.testcer"}, 1, "chip-id", "", ""},
        {"no VCEK supplied", {"--report", tr + "test-report.bin"}, 1, "key", "", ""},
    };
}

TEST(CliSnpVerify, EveryVectorGetsItsVerdictInJson) {
    for (const VerdictCase& c : verdict_cases()) {
        SCOPED_TRACE(c.name);
        int code = -1;
        const json doc = verify_json(c.args, code);
        EXPECT_EQ(code, c.exit_code) << doc.dump(2);
        EXPECT_EQ(doc.value("valid", !c.check.empty()), c.check.empty()) << doc.dump(2);
        if (c.check.empty()) {
            EXPECT_TRUE(doc["refusals"].empty()) << doc.dump(2);
            EXPECT_FALSE(doc.value("summary", std::string()).empty()) << doc.dump(2);
        } else {
            ASSERT_FALSE(doc["refusals"].empty()) << doc.dump(2);
            EXPECT_EQ(doc["refusals"][0].value("check", ""), c.check) << doc.dump(2);
            EXPECT_FALSE(doc["refusals"][0].value("detail", std::string()).empty()) << doc.dump(2);
        }
        if (!c.product.empty()) {
            ASSERT_TRUE(doc.contains("chain")) << doc.dump(2);
            EXPECT_EQ(doc["chain"].value("product", ""), c.product) << doc.dump(2);
            EXPECT_EQ(doc["chain"].value("key", ""), c.key) << doc.dump(2);
            EXPECT_EQ(doc["chain"]["path"].back().value("role", ""), "ARK") << doc.dump(2);
        }
    }
}

TEST(CliSnpVerify, EveryVectorGetsItsVerdictInText) {
    for (const VerdictCase& c : verdict_cases()) {
        SCOPED_TRACE(c.name);
        const ProcessResult r = verify(c.args);
        EXPECT_EQ(r.exit_code, c.exit_code) << r.out << r.err;
        if (c.check.empty()) {
            EXPECT_EQ(r.out.rfind("valid: ", 0), 0U) << r.out << r.err;
            EXPECT_EQ(r.err.find("refused"), std::string::npos) << r.err;
        } else {
            EXPECT_NE(r.err.find("cvmunlock: refused: " + c.check + ": "), std::string::npos) << r.err;
            EXPECT_EQ(r.out.find("valid:"), std::string::npos) << r.out;
        }
    }
}

TEST(CliSnpVerify, ExpiryNamesTheCertificateAndItsNotAfterIsTheBoundary) {
    const std::string tr = kSnp + "/trustee/";
    const std::vector<std::string> base{"--report", tr + "test-vlek-report.bin", "--certs", tr + "test-vlek.der"};
    auto at = [&](const std::string& when) {
        auto args = base;
        args.insert(args.end(), {"--at", when});
        int code = -1;
        json doc = verify_json(args, code);
        doc["exit"] = code;
        return doc;
    };
    const json expired = at("2026-01-01T00:00:00Z");
    ASSERT_EQ(expired["exit"], 1) << expired.dump(2);
    const std::string detail = expired["refusals"][0].value("detail", "");
    EXPECT_NE(detail.find("VLEK"), std::string::npos) << detail;
    const auto pos = detail.find("notAfter ");
    ASSERT_NE(pos, std::string::npos) << detail;
    const std::string date = detail.substr(pos + 9, 10), time = detail.substr(pos + 20, 8);  // "YYYY-MM-DD HH:MM:SS UTC"
    EXPECT_LT(date, "2025-12-11") << detail;  // README: the VLEK expired on 2025-12-10
    EXPECT_EQ(at(date + "T" + time + "Z")["exit"], 0) << "valid up to and including notAfter";
    // One second later, written with a +01:00 offset: the same instant plus one hour of offset.
    const int hour = std::stoi(time.substr(0, 2));
    if (hour < 23) {
        char later[40];
        std::snprintf(later, sizeof later, "%sT%02d%s+01:00", date.c_str(), hour + 1, time.substr(2).c_str());
        EXPECT_EQ(at(later)["exit"], 0) << later;
        std::string sec = time.substr(6, 2);
        if (sec != "59") {
            std::snprintf(later, sizeof later, "%sT%02d%s%02d+01:00", date.c_str(), hour + 1, time.substr(2, 4).c_str(),
                          std::stoi(sec) + 1);
            const json after = at(later);
            EXPECT_EQ(after["exit"], 1) << later;
            EXPECT_EQ(checks_of(after), std::set<std::string>{"expiry"}) << after.dump(2);
        }
    }
}

// ---------------------------------------------------------------- mutations

TEST(CliSnpVerify, EveryFlippedSignedByteIsRefused) {
    const std::string gsg = kSnp + "/go-sev-guest/";
    const std::string raw = read_all(gsg + "attestation.bin");
    ASSERT_EQ(raw.size(), 0x4A0U);
    // The unmutated report is valid under this policy, so any refusal below comes from the flip.
    int code = -1;
    const json base = verify_json({"--report", gsg + "attestation.bin", "--certs", gsg + "vcek.testcer", "--allow-debug"}, code);
    ASSERT_EQ(code, 0) << base.dump(2);

    std::set<std::size_t> offsets;
    for (std::size_t o = 0; o < kSigned; o += 16) offsets.insert(o);
    for (std::size_t o : {0x004, 0x00A, 0x010, 0x020, 0x030, 0x034, 0x038, 0x040, 0x048, 0x04C, 0x050, 0x08F, 0x090,
                          0x0C0, 0x0E0, 0x110, 0x140, 0x160, 0x180, 0x181, 0x186, 0x187, 0x188, 0x18B, 0x19F, 0x1A0,
                          0x1DF, 0x1E0, 0x1E8, 0x1EB, 0x1EC, 0x1EF, 0x1F0, 0x1F8, 0x200, 0x208, 0x29F}) {
        offsets.insert(o);
    }
    TempDir dir;
    int refused = 0, malformed = 0;
    for (std::size_t o : offsets) {
        for (std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0xFF}}) {
            std::string m = raw;
            m[o] = static_cast<char>(static_cast<std::uint8_t>(m[o]) ^ mask);
            char name[32];
            std::snprintf(name, sizeof name, "flip-%03zx-%02x.bin", o, mask);
            const std::string path = dir.write(name, m);
            SCOPED_TRACE(name);
            const json doc = verify_json({"--report", path, "--certs", gsg + "vcek.testcer", "--allow-debug"}, code);
            ASSERT_TRUE(code == 1 || code == 3) << "exit " << code << "\n" << doc.dump(2);
            EXPECT_FALSE(doc.value("valid", true));
            ASSERT_FALSE(doc["refusals"].empty()) << doc.dump(2);
            const std::string detail = doc["refusals"][0].value("detail", "");
            if (code == 3) {
                ++malformed;
                EXPECT_NE(detail.find("offset"), std::string::npos) << detail;
                EXPECT_NE(detail.find(path), std::string::npos) << detail;
            } else {
                ++refused;
            }
        }
    }
    EXPECT_GT(refused, 0);
    EXPECT_GT(malformed, 0);  // reserved bytes are must-be-zero
}

TEST(CliSnpVerify, FlipsInNamedFieldsAreRefusedByTheirCheck) {
    const std::string gsg = kSnp + "/go-sev-guest/";
    const std::string raw = read_all(gsg + "attestation.bin");
    struct Case {
        std::size_t offset;
        std::string check;
    };
    const std::vector<Case> cases{
        {kReportData, "signature"},       {kMeasurement + 7, "signature"}, {kVmpl, "signature"},
        {kPolicy, "signature"},           {kReportedTcb, "tcb"},           {kReportedTcb + 7, "tcb"},
        {kChipId, "chip-id"},             {kChipId + 63, "chip-id"},       {kSigned, "signature"},
        {kSigned + 72, "signature"},
    };
    TempDir dir;
    for (const Case& c : cases) {
        std::string m = raw;
        m[c.offset] = static_cast<char>(m[c.offset] ^ 0x01);
        const std::string path = dir.write("m.bin", m);
        SCOPED_TRACE(c.offset);
        int code = -1;
        const json doc = verify_json({"--report", path, "--certs", gsg + "vcek.testcer", "--allow-debug"}, code);
        EXPECT_EQ(code, 1) << doc.dump(2);
        ASSERT_FALSE(doc["refusals"].empty()) << doc.dump(2);
        EXPECT_EQ(doc["refusals"][0].value("check", ""), c.check) << doc.dump(2);
    }
    // SIGNER_INFO naming the VLEK: no VLEK certificate was given.
    std::string m = raw;
    m[kSignerInfo] = static_cast<char>(m[kSignerInfo] | 0x04);
    int code = -1;
    const json doc = verify_json({"--report", dir.write("vlek.bin", m), "--certs", gsg + "vcek.testcer", "--allow-debug"}, code);
    EXPECT_EQ(code, 1) << doc.dump(2);
    EXPECT_EQ(checks_of(doc), std::set<std::string>{"key"}) << doc.dump(2);
}

TEST(CliSnpVerify, HclRuntimeDataIsBoundToTheReport) {
    const std::string tr = kSnp + "/trustee/";
    const std::string raw = read_all(tr + "azure-hcl-report.bin");
    int code = -1;
    const json ok = verify_json({"--report", tr + "azure-hcl-report.bin", "--certs", tr + "azure-vcek.pem"}, code);
    ASSERT_EQ(code, 0) << ok.dump(2);
    ASSERT_TRUE(ok.contains("hcl")) << ok.dump(2);
    EXPECT_TRUE(ok["hcl"]["runtime_data"].is_object()) << ok.dump(2);

    // A changed character inside the AK modulus: still JSON, no longer the hashed data.
    const auto n = raw.find("\"n\":\"", kHclRuntime);
    ASSERT_NE(n, std::string::npos);
    TempDir dir;
    std::string m = raw;
    const std::size_t at = n + 10;
    m[at] = m[at] == 'A' ? 'B' : 'A';
    const json bad = verify_json({"--report", dir.write("ak.bin", m), "--certs", tr + "azure-vcek.pem"}, code);
    EXPECT_EQ(code, 1) << bad.dump(2);
    EXPECT_FALSE(bad.value("valid", true));
    EXPECT_EQ(checks_of(bad), std::set<std::string>{"binding"}) << bad.dump(2);

    // Any flipped byte of the runtime region is refused, whatever it breaks.
    const std::size_t size = load_le32(u8(raw, kHclVariableSize));
    for (std::size_t o = kHclRuntime; o < kHclRuntime + size; o += 97) {
        std::string f = raw;
        f[o] = static_cast<char>(f[o] ^ 0x20);
        SCOPED_TRACE(o);
        const ProcessResult r = verify({"--report", dir.write("f.bin", f), "--certs", tr + "azure-vcek.pem"});
        EXPECT_TRUE(r.exit_code == 1 || r.exit_code == 3) << r.exit_code << r.err;
        EXPECT_NE(r.err.find("cvmunlock: refused: "), std::string::npos) << r.err;
    }
}

TEST(CliSnpVerify, RealVcekIsNotChainedThroughASelfMadeAsk) {
    const Fixtures& f = fixtures();
    const std::string gsg = kSnp + "/go-sev-guest/";
    const std::vector<std::string> report{"--report", gsg + "attestation.bin", "--certs", gsg + "vcek.testcer", "--allow-debug"};
    // Anchors given here only: run_process directly, without the shipped-roots default of verify().
    auto run = [&](std::vector<std::string> args, std::vector<std::string> anchors) {
        std::vector<std::string> argv{cli(), "snp", "verify", "--json"};
        for (const auto& a : anchors) argv.insert(argv.end(), {"--anchors", a});
        argv.insert(argv.end(), args.begin(), args.end());
        return run_json(argv);
    };
    std::vector<std::string> real = report;
    // Only the real ARK is trusted: the self-made ASK cannot have issued the real VCEK.
    real.insert(real.end(), {"--certs", f.fake_chain});
    json doc = run(real, {f.real_ark_only_dir});
    EXPECT_EQ(doc["exit"], 1) << doc.dump(2);
    EXPECT_EQ(checks_of(doc), std::set<std::string>{"chain"}) << doc.dump(2);
    // Same, with the self-made ARK trusted too.
    doc = run(real, {f.real_ark_only_dir, f.fake_ark_dir});
    EXPECT_EQ(doc["exit"], 1) << doc.dump(2);
    EXPECT_EQ(checks_of(doc), std::set<std::string>{"chain"}) << doc.dump(2);
    // The real ASK supplied: valid.
    std::vector<std::string> with_real_ask = report;
    with_real_ask.insert(with_real_ask.end(), {"--certs", kRoots + "/ask_ark_milan.pem"});
    doc = run(with_real_ask, {f.real_ark_only_dir});
    EXPECT_EQ(doc["exit"], 0) << doc.dump(2);
    // The shipped anchors carry the real ASK: the supplied self-made ASK/ARK are
    // ignored and the path runs through the trusted ones.
    doc = run(real, {kRoots});
    EXPECT_EQ(doc["exit"], 0) << doc.dump(2);
    ASSERT_EQ(doc["chain"]["path"].size(), 3U) << doc.dump(2);
    // A self-made report signed by a self-made VCEK but presented with the real ASK/ARK.
    doc = run({"--report", f.fake_report, "--certs", f.fake_vcek, "--certs", kRoots + "/ask_ark_milan.pem"}, {kRoots});
    EXPECT_EQ(doc["exit"], 1) << doc.dump(2);
    EXPECT_EQ(checks_of(doc), std::set<std::string>{"chain"}) << doc.dump(2);
}

// ---------------------------------------------------------------- policy flags

struct VlekFacts {
    json report;
    std::vector<std::string> base;
};

VlekFacts vlek_facts() {
    const std::string tr = kSnp + "/trustee/";
    return {report_json(tr + "test-vlek-report.bin"),
            {"--report", tr + "test-vlek-report.bin", "--certs", tr + "test-vlek.der", "--at", "2025-06-01T00:00:00Z"}};
}

std::string other_hex(const std::string& hex) {
    std::string o = hex;
    o[0] = o[0] == '0' ? '1' : '0';
    return o;
}

std::string tcb_flag(const json& tcb, int snp_delta) {
    return "bl=" + std::to_string(tcb["bootloader"].get<int>()) + ",tee=" + std::to_string(tcb["tee"].get<int>()) +
           ",snp=" + std::to_string(tcb["snp"].get<int>() + snp_delta) + ",ucode=" + std::to_string(tcb["microcode"].get<int>());
}

TEST(CliSnpPolicy, FlagsMatchingTheReportAreValid) {
    const VlekFacts v = vlek_facts();
    const json& r = v.report;
    auto args = v.base;
    args.insert(args.end(), {"--min-tcb", tcb_flag(r["reported_tcb"], 0),
                             "--measurement", other_hex(r["measurement"]), "--measurement", r["measurement"],
                             "--max-vmpl", std::to_string(r["vmpl"].get<int>()),
                             "--host-data", r["host_data"], "--id-key-digest", r["id_key_digest"],
                             "--author-key-digest", r["author_key_digest"],
                             "--smt", r["platform_info"]["smt_enabled"].get<bool>() ? "on" : "off",
                             "--single-socket", r["policy"]["single_socket"].get<bool>() ? "on" : "off"});
    int code = -1;
    const json doc = verify_json(args, code);
    EXPECT_EQ(code, 0) << doc.dump(2);
}

TEST(CliSnpPolicy, EachViolationIsNamedAndAllAreListed) {
    const VlekFacts v = vlek_facts();
    const json& r = v.report;
    ASSERT_GE(r["vmpl"].get<int>(), 1);  // README: the VLEK report comes from VMPL 1
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
        {"min-tcb", {"--min-tcb", tcb_flag(r["reported_tcb"], 1)}},
        {"measurement", {"--measurement", other_hex(r["measurement"])}},
        {"vmpl", {"--max-vmpl", std::to_string(r["vmpl"].get<int>() - 1)}},
        {"host-data", {"--host-data", other_hex(r["host_data"])}},
        {"id-key-digest", {"--id-key-digest", other_hex(r["id_key_digest"])}},
        {"author-key-digest", {"--author-key-digest", other_hex(r["author_key_digest"])}},
        {"smt", {"--smt", r["platform_info"]["smt_enabled"].get<bool>() ? "off" : "on"}},
        {"single-socket", {"--single-socket", r["policy"]["single_socket"].get<bool>() ? "off" : "on"}},
    };
    std::vector<std::string> all = v.base;
    std::set<std::string> expected;
    for (const auto& [check, flags] : cases) {
        SCOPED_TRACE(check);
        auto args = v.base;
        args.insert(args.end(), flags.begin(), flags.end());
        int code = -1;
        const json doc = verify_json(args, code);
        EXPECT_EQ(code, 1) << doc.dump(2);
        EXPECT_EQ(checks_of(doc), std::set<std::string>{check}) << doc.dump(2);
        const ProcessResult text = verify(args);
        EXPECT_EQ(text.exit_code, 1);
        EXPECT_NE(text.err.find("cvmunlock: refused: " + check + ": "), std::string::npos) << text.err;
        all.insert(all.end(), flags.begin(), flags.end());
        expected.insert(check);
    }
    int code = -1;
    const json doc = verify_json(all, code);
    EXPECT_EQ(code, 1) << doc.dump(2);
    EXPECT_EQ(checks_of(doc), expected) << doc.dump(2);
    EXPECT_EQ(doc["refusals"].size(), expected.size()) << doc.dump(2);
    const ProcessResult text = verify(all);
    for (const auto& check : expected) {
        EXPECT_NE(text.err.find("cvmunlock: refused: " + check + ": "), std::string::npos) << text.err;
    }
}

TEST(CliSnpPolicy, DebugAndPolicyViolationsTogether) {
    const std::string gsg = kSnp + "/go-sev-guest/";
    const json r = report_json(gsg + "attestation.bin");
    int code = -1;
    const json doc = verify_json({"--report", gsg + "attestation.bin", "--certs", gsg + "vcek.testcer", "--min-tcb",
                                  tcb_flag(r["reported_tcb"], 1), "--measurement", other_hex(r["measurement"])},
                                 code);
    EXPECT_EQ(code, 1) << doc.dump(2);
    EXPECT_EQ(checks_of(doc), (std::set<std::string>{"debug", "min-tcb", "measurement"})) << doc.dump(2);
}

// The summary of a refused report must not claim the policy holds.
TEST(CliSnpPolicy, SummaryOfAPolicyRefusalDoesNotSayPolicySatisfied) {
    const std::string gsg = kSnp + "/go-sev-guest/";
    int code = -1;
    const json doc = verify_json({"--report", gsg + "attestation.bin", "--certs", gsg + "vcek.testcer"}, code);
    EXPECT_EQ(code, 1);
    EXPECT_EQ(doc.value("summary", std::string()).find("policy satisfied"), std::string::npos) << doc.dump(2);
}

TEST(CliSnpPolicy, MalformedFlagValuesAreUsageErrors) {
    const VlekFacts v = vlek_facts();
    const std::string hex95(95, 'a'), hex98(98, 'a'), hex62(62, 'a');
    const std::vector<std::pair<std::string, std::string>> cases{
        {"--min-tcb", "bl=x"},      {"--min-tcb", "bl=256"},       {"--min-tcb", "cpu=1"},
        {"--min-tcb", "bl"},        {"--min-tcb", "bl=1,,snp=2"},  {"--min-tcb", "bl=-1"},
        {"--measurement", "00"},    {"--measurement", hex95},      {"--measurement", std::string(96, 'g')},
        {"--host-data", hex62},     {"--id-key-digest", "xyz"},    {"--author-key-digest", hex98},
        {"--max-vmpl", "4"},        {"--max-vmpl", "-1"},          {"--max-vmpl", "one"},
        {"--smt", "maybe"},         {"--single-socket", "2"},      {"--at", "yesterday"},
        {"--at", "2025-06-01"},     {"--at", "2025-06-01T00:00:00"}, {"--at", "2025-06-01T00:00:00+2:00"},
        {"--at", "2025-06-01T00:00:00Zjunk"},
    };
    for (const auto& [flag, value] : cases) {
        SCOPED_TRACE(flag + " " + value);
        auto args = v.base;
        args.insert(args.end(), {flag, value});
        const ProcessResult r = verify(args);
        EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
        EXPECT_NE(r.err.find(flag), std::string::npos) << r.err;
    }
    auto many = v.base;  // a policy holds at most 64 launch measurements
    for (int i = 0; i < 65; ++i) many.insert(many.end(), {"--measurement", std::string(96, 'a')});
    ProcessResult r = verify(many);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--measurement"), std::string::npos) << r.err;
    r = verify({"--no-such-flag"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
}

// ---------------------------------------------------------------- malformed inputs

TEST(CliSnpVerify, MalformedAndMissingInputs) {
    const std::string tr = kSnp + "/trustee/";
    TempDir dir;
    const std::string raw = read_all(tr + "test-report.bin");
    const std::string truncated = dir.write("truncated.bin", raw.substr(0, 0x400));
    ProcessResult r = verify({"--report", truncated, "--certs", tr + "test-vcek.der"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find(truncated), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("1024"), std::string::npos) << r.err;

    int code = -1;
    json doc = verify_json({"--report", truncated, "--certs", tr + "test-vcek.der"}, code);
    EXPECT_EQ(code, 3);
    EXPECT_FALSE(doc.value("valid", true));
    ASSERT_FALSE(doc["refusals"].empty());
    EXPECT_NE(doc["refusals"][0].value("detail", "").find("1024"), std::string::npos) << doc.dump(2);

    const std::string hcl = read_all(tr + "azure-hcl-report.bin");
    const std::string hcl_short = dir.write("hcl-short.bin", hcl.substr(0, 1000));
    r = verify({"--report", hcl_short, "--certs", tr + "azure-vcek.pem"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find(hcl_short), std::string::npos) << r.err;

    const std::string garbage = dir.write("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    r = verify({"--report", tr + "test-report.bin", "--certs", garbage});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find(garbage), std::string::npos) << r.err;
    const std::string junk = dir.write("junk.der", std::string(300, '\x30'));
    r = verify({"--report", tr + "test-report.bin", "--certs", junk});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find(junk), std::string::npos) << r.err;

    const std::string missing = dir.path() + "/no-such-report.bin";
    r = verify({"--report", missing, "--certs", tr + "test-vcek.der"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
    const std::string missing_cert = dir.path() + "/no-such-vcek.der";
    r = verify({"--report", tr + "test-report.bin", "--certs", missing_cert});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(missing_cert), std::string::npos) << r.err;

    // A broken file among the configured anchors is an error, not silently skipped.
    const std::string bad_anchors = dir.sub("bad-anchors");
    const std::string bad_ark = dir.write("bad-anchors/ark.pem", "junk");
    r = verify({"--report", tr + "test-report.bin", "--certs", tr + "test-vcek.der", "--anchors", bad_anchors});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find(bad_ark), std::string::npos) << r.err;
}

TEST(CliSnpVerify, NoTrustAnchorIsUnavailable) {
    const std::string tr = kSnp + "/trustee/";
    const ProcessResult help = run_process({cli(), "snp", "verify", "--help"});
    for (const char* dir : {"/etc/cvmunlock/snp-anchors.d", "/usr/share/cvmunlock/amd-roots", "/usr/local/share/cvmunlock/amd-roots"}) {
        if (std::filesystem::exists(dir) && help.out.find(dir) != std::string::npos) GTEST_SKIP() << dir << " is installed";
    }
    TempDir dir;
    const ProcessResult r = run_process({cli(), "snp", "verify", "--report", tr + "test-report.bin", "--certs",
                                         tr + "test-vcek.der", "--anchors", dir.sub("empty")});
    EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
    EXPECT_NE(r.err.find("trust anchor"), std::string::npos) << r.err;
}

// ---------------------------------------------------------------- snp report

struct ReportCase {
    std::string path;
    bool hcl;
};

std::vector<ReportCase> report_cases() {
    return {{kSnp + "/go-sev-guest/attestation.bin", false},
            {kSnp + "/trustee/test-report.bin", false},
            {kSnp + "/trustee/test-vlek-report.bin", false},
            {kSnp + "/trustee/azure-hcl-report.bin", true},
            {fixtures().genoa_hcl, true},
            {fixtures().fake_report, false}};
}

TEST(CliSnpReport, JsonFieldsAreTheReportBytes) {
    for (const ReportCase& c : report_cases()) {
        SCOPED_TRACE(c.path);
        const std::string file = read_all(c.path);
        const std::string raw = c.hcl ? file.substr(kHclSnp, 0x4A0) : file;
        ASSERT_EQ(raw.size(), 0x4A0U);
        const json doc = report_json(c.path);
        ASSERT_EQ(doc.contains("hcl"), c.hcl) << doc.dump(2);
        const json& r = c.hcl ? doc["report"] : doc;
        const std::uint64_t policy = load_le64(u8(raw, kPolicy));
        const std::uint64_t tcb = load_le64(u8(raw, kReportedTcb));
        EXPECT_EQ(r["version"], load_le32(u8(raw, kVersion)));
        EXPECT_EQ(r["vmpl"], load_le32(u8(raw, kVmpl)));
        EXPECT_EQ(r["policy"]["raw"], hex64(policy));
        EXPECT_EQ(r["policy"]["debug"], (policy & kDebugBit) != 0);
        EXPECT_EQ(r["reported_tcb"]["raw"], hex64(tcb));
        if (r["product"] != "Turin") {  // Milan/Genoa: byte 0 bl, 1 tee, 6 snp, 7 ucode
            EXPECT_EQ(r["reported_tcb"]["bootloader"], tcb & 0xFF);
            EXPECT_EQ(r["reported_tcb"]["tee"], (tcb >> 8) & 0xFF);
            EXPECT_EQ(r["reported_tcb"]["snp"], (tcb >> 48) & 0xFF);
            EXPECT_EQ(r["reported_tcb"]["microcode"], tcb >> 56);
        }
        EXPECT_EQ(r["report_data"], hex_of(raw, kReportData, 64));
        EXPECT_EQ(r["measurement"], hex_of(raw, kMeasurement, 48));
        EXPECT_EQ(r["chip_id"], hex_of(raw, kChipId, 64));
        const unsigned key = (load_le32(u8(raw, kSignerInfo)) >> 2) & 7;
        EXPECT_EQ(r["signer_info"]["signing_key"], key == 0 ? "vcek" : key == 1 ? "vlek" : "none");
    }
}

TEST(CliSnpReport, GoSevGuestFieldsAsDocumented) {
    // tests/data/README.md: policy 0xb0000 (debug), reported_tcb bl 2 tee 0 snp 5 ucode 0x44, report_data 01..05.
    const json r = report_json(kSnp + "/go-sev-guest/attestation.bin");
    EXPECT_EQ(r["version"], 2);
    EXPECT_EQ(r["policy"]["raw"], hex64(0xb0000));
    EXPECT_EQ(r["policy"]["debug"], true);
    EXPECT_EQ(r["reported_tcb"]["raw"], hex64(0x4405000000000002ULL));
    EXPECT_EQ(r["reported_tcb"]["bootloader"], 2);
    EXPECT_EQ(r["reported_tcb"]["tee"], 0);
    EXPECT_EQ(r["reported_tcb"]["snp"], 5);
    EXPECT_EQ(r["reported_tcb"]["microcode"], 0x44);
    EXPECT_EQ(r["report_data"], "0102030405" + std::string(118, '0'));
    EXPECT_EQ(r["signer_info"]["signing_key"], "vcek");

    const json v = report_json(kSnp + "/trustee/test-vlek-report.bin");
    EXPECT_EQ(v["version"], 3);
    EXPECT_EQ(v["vmpl"], 1);
    EXPECT_EQ(v["signer_info"]["signing_key"], "vlek");
    EXPECT_EQ(v["reported_tcb"]["raw"], hex64(0xd918000000000004ULL));
    EXPECT_NE(v["reported_tcb"]["raw"], v["current_tcb"]["raw"]);
    EXPECT_EQ(v["chip_id"], std::string(128, '0'));
}

TEST(CliSnpReport, TextNamesTheFields) {
    for (const ReportCase& c : report_cases()) {
        SCOPED_TRACE(c.path);
        const json doc = report_json(c.path);
        const json& r = c.hcl ? doc["report"] : doc;
        const ProcessResult t = run_process({cli(), "snp", "report", c.path});
        ASSERT_EQ(t.exit_code, 0) << t.err;
        EXPECT_EQ(t.out.rfind("HCL report", 0) == 0, c.hcl) << t.out;
        EXPECT_NE(t.out.find("version: " + std::to_string(r["version"].get<int>()) + "\n"), std::string::npos) << t.out;
        EXPECT_NE(t.out.find("report_data: " + r["report_data"].get<std::string>() + "\n"), std::string::npos) << t.out;
        EXPECT_NE(t.out.find("reported_tcb: " + r["reported_tcb"]["raw"].get<std::string>()), std::string::npos) << t.out;
        EXPECT_NE(t.out.find(std::string("debug=") + (r["policy"]["debug"].get<bool>() ? "true" : "false")), std::string::npos) << t.out;
    }
}

TEST(CliSnpReport, HclRuntimeDataIsParsedAndHashedIntoReportData) {
    for (const std::string& path : {kSnp + "/trustee/azure-hcl-report.bin", fixtures().genoa_hcl}) {
        SCOPED_TRACE(path);
        const std::string file = read_all(path);
        const json doc = report_json(path);
        const json& h = doc["hcl"];
        EXPECT_EQ(h["report_type"], 2);  // SNP
        EXPECT_EQ(h["hash_type"], 1);    // SHA-256
        const std::size_t size = load_le32(u8(file, kHclVariableSize));
        EXPECT_EQ(h["runtime_data_size"], size);
        ASSERT_TRUE(h["runtime_data"].is_object()) << h.dump(2);
        bool ak = false;
        for (const auto& k : h["runtime_data"].value("keys", json::array())) ak = ak || k.value("kid", "") == "HCLAkPub";
        EXPECT_TRUE(ak) << h["runtime_data"].dump(2);
        // The binding the verifier checks, computed here from the file.
        auto digest = hash_bytes(HashAlg::Sha256, ByteView(u8(file, kHclRuntime), size));
        ASSERT_TRUE(digest.has_value());
        EXPECT_EQ(doc["report"]["report_data"].get<std::string>().substr(0, 64), to_hex(*digest));
    }
}

TEST(CliSnpReport, MalformedReportsAreExit3) {
    TempDir dir;
    const std::string raw = read_all(kSnp + "/trustee/test-report.bin");
    const std::string shorter = dir.write("short.bin", raw.substr(0, 0x49F));
    ProcessResult r = run_process({cli(), "snp", "report", shorter});
    EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
    EXPECT_NE(r.err.find("1183"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(shorter), std::string::npos) << r.err;
    std::string bad = raw;
    bad[kVersion] = 9;
    r = run_process({cli(), "snp", "report", dir.write("v9.bin", bad), "--json"});
    EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
    EXPECT_NE(r.err.find("0x000"), std::string::npos) << r.err;
    const std::string missing = dir.path() + "/absent.bin";
    r = run_process({cli(), "snp", "report", missing});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
}

}  // namespace
}  // namespace cvmunlock
