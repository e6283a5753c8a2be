// `cvmunlock snp verify` and `cvmunlock snp report` as a user runs them (black box):
// every SEV-SNP vector of tests/data/snp gets its documented verdict
// (tests/data/README.md), each refusal names its check, a chain ending in a
// self-made ARK is refused unless that ARK is a configured anchor.
#include "cli_snp_support.hpp"

namespace cvmunlock::cli_snp_test {
namespace {

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
         {"--report", f.fake_report, "--certs", f.fake_vcek, "--certs", f.fake_chain, "--snp-anchors", f.fake_ark_dir}, 0, "", "Milan", "VCEK"},
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
        EXPECT_EQ(doc.value("ok", !c.check.empty()), c.check.empty()) << doc.dump(2);
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

// A verification time that is no date (2025-02-30 would otherwise become March 2) is a usage error.
TEST(CliSnpVerify, DateThatDoesNotExistIsRefused) {
    const std::string tr = kSnp + "/trustee/";
    for (const char* when : {"2025-02-30T00:00:00Z", "2025-13-01T00:00:00Z", "2025-06-01T24:00:00Z", "2025-06-01"}) {
        auto r = verify({"--report", tr + "test-vlek-report.bin", "--certs", tr + "test-vlek.der", "--at", when});
        EXPECT_EQ(r.exit_code, 2) << when << ": " << r.err;
        EXPECT_NE(r.err.find("--at"), std::string::npos) << r.err;
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
            EXPECT_FALSE(doc.value("ok", true));
            ASSERT_EQ(doc["error"]["exit"], code) << doc.dump(2);
            ASSERT_EQ(doc["refusals"].empty(), code == 3) << doc.dump(2);
            const std::string detail = code == 3 ? doc["error"].value("message", "") : doc["refusals"][0].value("detail", "");
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
    EXPECT_FALSE(bad.value("ok", true));
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
    auto run = [&](std::vector<std::string> args, std::vector<std::string> anchors) {
        std::vector<std::string> argv{cli(), "snp", "verify", "--json"};
        for (const auto& a : anchors) argv.insert(argv.end(), {"--snp-anchors", a});
        argv.insert(argv.end(), args.begin(), args.end());
        return run_json(argv);
    };
    // The real VCEK with a self-made ASK/ARK beside it, the self-made ARK trusted too: the
    // built-in Milan ASK is what issued the VCEK, and the path runs through it to AMD's ARK.
    std::vector<std::string> real = report;
    real.insert(real.end(), {"--certs", f.fake_chain});
    json doc = run(real, {f.fake_ark_dir});
    EXPECT_EQ(doc["exit"], 0) << doc.dump(2);
    ASSERT_EQ(doc["chain"]["path"].size(), 3U) << doc.dump(2);
    // A self-made report signed by a self-made VCEK, presented with the real ASK/ARK: refused.
    doc = run({"--report", f.fake_report, "--certs", f.fake_vcek, "--certs", kRoots + "/ask_ark_milan.pem"}, {});
    EXPECT_EQ(doc["exit"], 1) << doc.dump(2);
    EXPECT_EQ(checks_of(doc), std::set<std::string>{"chain"}) << doc.dump(2);
    EXPECT_EQ(doc["error"]["code"], "snp-refused") << doc.dump(2);
    // Its own chain, its ARK not trusted: refused; trusted with --snp-anchors: valid.
    doc = run({"--report", f.fake_report, "--certs", f.fake_vcek, "--certs", f.fake_chain}, {});
    EXPECT_EQ(doc["exit"], 1) << doc.dump(2);
    doc = run({"--report", f.fake_report, "--certs", f.fake_vcek, "--certs", f.fake_chain}, {f.fake_ark_dir});
    EXPECT_EQ(doc["exit"], 0) << doc.dump(2);
}

// ---------------------------------------------------------------- policy flags

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
    EXPECT_FALSE(doc.value("ok", true));
    EXPECT_TRUE(doc["refusals"].empty()) << doc.dump(2);  // not a verdict on the report
    EXPECT_EQ(doc["error"]["exit"], 3) << doc.dump(2);
    EXPECT_EQ(doc["error"]["code"], "invalid-input") << doc.dump(2);
    EXPECT_NE(doc["error"].value("message", "").find("1024"), std::string::npos) << doc.dump(2);

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

    const std::string missing = (dir.path() / "no-such-report.bin").string();
    r = verify({"--report", missing, "--certs", tr + "test-vcek.der"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
    const std::string missing_cert = (dir.path() / "no-such-vcek.der").string();
    r = verify({"--report", tr + "test-report.bin", "--certs", missing_cert});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(missing_cert), std::string::npos) << r.err;

    // A broken file among the configured anchors is an error, not silently skipped.
    const std::string bad_anchors = dir.sub("bad-anchors");
    const std::string bad_ark = dir.write("bad-anchors/ark.pem", "junk");
    r = verify({"--report", tr + "test-report.bin", "--certs", tr + "test-vcek.der", "--snp-anchors", bad_anchors});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find(bad_ark), std::string::npos) << r.err;
}

TEST(CliSnpVerify, ALoneCopyOfTheBinaryVerifiesWithTheBuiltInRoots) {
    // The binary copied alone to an empty directory, run from there with no anchor
    // directory given (the installed ones do not exist here, or add nothing new).
    const std::string tr = kSnp + "/trustee/";
    TempDir dir;
    const std::string alone = (dir.path() / "cvmunlock").string();
    std::filesystem::copy_file(cli(), alone);
    const ProcessResult r = run_process({"/bin/sh", "-c", "cd \"$1\" && exec ./cvmunlock snp verify --report \"$2\" --certs \"$3\"",
                                         "sh", dir.path().string(), tr + "test-report.bin", tr + "test-vcek.der"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("valid: Milan report signed by the VCEK"), std::string::npos) << r.out << r.err;

    // The roots are trusted, not merely present: a report whose chain ends elsewhere is still refused.
    const Fixtures& f = fixtures();
    const ProcessResult fake = run_process({alone, "snp", "verify", "--report", f.fake_report, "--certs", f.fake_vcek,
                                            "--certs", f.fake_chain});
    EXPECT_EQ(fake.exit_code, 1) << fake.out << fake.err;
    EXPECT_NE(fake.err.find("refused: trust"), std::string::npos) << fake.err;
}

// ---------------------------------------------------------------- snp report


}  // namespace
}  // namespace cvmunlock::cli_snp_test
