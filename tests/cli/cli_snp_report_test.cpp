// `cvmunlock snp report`: decoded fields checked against the report bytes and the documented values.
#include "cli_snp_support.hpp"

namespace cvmunlock::cli_snp_test {
namespace {

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
        ASSERT_EQ(!doc["hcl"].is_null(), c.hcl) << doc.dump(2);
        EXPECT_EQ(doc["version"], 1);
        EXPECT_EQ(doc["command"], "snp report");
        const json& r = doc["report"];
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
    const json r = report_json(kSnp + "/go-sev-guest/attestation.bin")["report"];
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

    const json v = report_json(kSnp + "/trustee/test-vlek-report.bin")["report"];
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
        const json& r = doc["report"];
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
    const std::string missing = (dir.path() / "absent.bin").string();
    r = run_process({cli(), "snp", "report", missing});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
}


}  // namespace
}  // namespace cvmunlock::cli_snp_test
