// enroll --snp require --snp-evidence azure-hcl and unlock --test against a
// private swtpm made to look like an Azure CVM's vTPM by
// cvmunlock-test-provision-hcl (AK at 0x81000003, HCL report in NV 0x01400001,
// signed by a fresh test AMD-style chain on every run). Refusals of the gate
// must come before TPM2_Unseal; a token whose requirement was altered is
// refused by the TPM at TPM2_Unseal; what the product did is checked with cryptsetup and
// tpm2-tools, and with the files the provisioning tool wrote.
#include "unlock_fixture.hpp"

namespace cvmunlock::unlock_test {
namespace {

namespace fs = std::filesystem;

const std::string kProvisionTool = CVMUNLOCK_PROVISION_HCL;
const std::string kAmdRoots = std::string(CVMUNLOCK_TEST_DATA) + "/snp/amd-roots";
constexpr const char* kUnseal = "TPM2_CC_Unseal";
constexpr const char* kHclNvIndex = "0x01400001";

// HCL report: 32-byte header, then the SNP ATTESTATION_REPORT (SEV-SNP ABI,
// Table 22), whose 8-byte GUEST POLICY is at offset 0x08; DEBUG is bit 19.
constexpr std::size_t kHclHeaderSize = 0x20;
constexpr std::size_t kReportPolicyOffset = 0x08;
constexpr unsigned kPolicyDebugBit = 19;

// j[key], or null when j is no object or lacks the key (const operator[] would assert).
json field(const json& j, const std::string& key) {
    return j.is_object() && j.contains(key) ? j[key] : json();
}

bool names_command(const json& report, const std::string& name) {
    const json codes = field(report, "tpm_command_codes");
    return codes.is_array() && std::find(codes.begin(), codes.end(), json(name)) != codes.end();
}

// TPM commands the CLI reports by hex code (src/cli/tpm_names.hpp names only some): either spelling counts.
struct Command {
    const char* name;
    const char* hex;
};
constexpr Command kNvReadPublic{"TPM2_CC_NV_ReadPublic", "0x00000169"};
constexpr Command kNvRead{"TPM2_CC_NV_Read", "0x0000014e"};
constexpr Command kCertify{"TPM2_CC_Certify", "0x00000148"};

bool sent(const json& report, const Command& c) {
    return names_command(report, c.name) || names_command(report, c.hex);
}

bool debug_bit_set(const std::string& hcl_report) {
    const std::size_t byte = kHclHeaderSize + kReportPolicyOffset + kPolicyDebugBit / 8;
    if (hcl_report.size() <= byte) return false;
    return (static_cast<unsigned char>(hcl_report[byte]) >> (kPolicyDebugBit % 8)) & 1u;
}

class UnlockSnp : public UnlockSwtpm {
protected:
    void SetUp() override {
        UnlockSwtpm::SetUp();
        ASSERT_TRUE(fs::exists(kProvisionTool)) << kProvisionTool << " not built";
        anchors = path("anchors");
        fs::create_directories(anchors);
    }

    // Runs the provisioning tool into DIR/NAME and trusts its new chain (the
    // anchors directory gets ask_ark.pem: the ARK, and the ASK that the VCEK
    // needs, as neither the NV index nor the token carries an ASK).
    // Returns the directory (ark.pem, ask_ark.pem, vcek.der, hcl-report.bin).
    std::string provision(const std::string& name, const std::vector<std::string>& flags = {}) {
        const std::string out = path(name);
        std::vector<std::string> args = {kProvisionTool, "--tpm", tpm.tcti(), "--out", out};
        args.insert(args.end(), flags.begin(), flags.end());
        auto r = run_process(args);
        EXPECT_EQ(r.exit_code, 0) << "provisioning " << show(r);
        std::error_code ec;
        fs::copy_file(out + "/ask_ark.pem", anchors + "/" + name + ".pem", fs::copy_options::overwrite_existing, ec);
        EXPECT_FALSE(ec) << ec.message();
        return out;
    }

    // The Azure NV index has no certificate table: enrollment is given the VCEK of `provisioned`.
    ProcessResult snp_enroll(const std::string& provisioned, const std::vector<std::string>& extra = {}) {
        std::vector<std::string> args = {"--pcrs",        "7",     "--snp",  "require", "--snp-evidence",
                                         "azure-hcl",     "--snp-anchors", anchors, "--vcek", provisioned + "/vcek.der",
                                         "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        return enroll(image, args);
    }

    // unlock --test --json with our anchors; `provisioned` adds that run's VCEK.
    ProcessResult snp_unlock(const std::string& provisioned = {}, const std::string& anchor_dir = {}) {
        std::vector<std::string> args = {"--json"};
        if (anchor_dir != "-") args.insert(args.end(), {"--snp-anchors", anchor_dir.empty() ? anchors : anchor_dir});
        if (!provisioned.empty()) args.insert(args.end(), {"--vcek", provisioned + "/vcek.der"});
        return unlock(image, args);
    }

    // A refused unlock: exit 1, "ok" false, and the reason names each of `what`.
    static json expect_refusal(const ProcessResult& r, const std::vector<std::string>& what) {
        EXPECT_EQ(r.exit_code, 1) << show(r);
        const json j = parse_json(r.out);
        EXPECT_TRUE(j.is_object()) << r.out;
        if (!j.is_object()) return j;
        EXPECT_EQ(j.value("ok", true), false) << j.dump(2);
        const std::string reason = field(field(j, "error"), "message").is_string() ? j["error"]["message"].get<std::string>() : "";
        for (const auto& w : what) {
            EXPECT_TRUE(contains(lower(reason), lower(w))) << "reason lacks \"" << w << "\": " << reason;
        }
        return j;
    }

    // The refusal of an SNP-requiring token by the gate: the gate's verdict is
    // reported, and TPM2_Unseal never went out.
    static json expect_refused_before_unseal(const ProcessResult& r, const std::vector<std::string>& what) {
        const json j = expect_refusal(r, what);
        if (!j.is_object()) return j;
        EXPECT_FALSE(field(j, "tpm_command_codes").empty()) << j.dump(2);
        EXPECT_FALSE(names_command(j, kUnseal)) << "TPM2_Unseal was sent before the refusal: " << j.dump(2);
        EXPECT_TRUE(field(j, "snp").is_object()) << "no SNP verdict in " << j.dump(2);
        if (field(j, "snp").is_object()) {
            EXPECT_EQ(j["snp"].value("azure_bound", true), false) << j.dump(2);
        }
        return j;
    }

    static void expect_unlocked(const ProcessResult& r) {
        EXPECT_EQ(r.exit_code, 0) << show(r);
        const json j = parse_json(r.out);
        ASSERT_TRUE(j.is_object()) << r.out;
        EXPECT_EQ(j.value("ok", false), true) << j.dump(2);
        EXPECT_TRUE(names_command(j, kUnseal)) << j.dump(2);
        EXPECT_TRUE(sent(j, kNvRead) && sent(j, kCertify)) << "the gate did not read NV and certify: " << j.dump(2);
        ASSERT_TRUE(field(j, "snp").is_object()) << j.dump(2);
        EXPECT_EQ(j["snp"].value("azure_bound", false), true) << j.dump(2);
        EXPECT_EQ(j["snp"].value("evidence", ""), "azure-hcl") << j.dump(2);
        EXPECT_TRUE(field(j["snp"], "refusals").empty()) << j.dump(2);
    }

    // The only cvmunlock token of the image, as stock cryptsetup exports it.
    json only_token() {
        const auto ids = cvmunlock_token_ids(image);
        EXPECT_EQ(ids.size(), 1u);
        return ids.empty() ? json() : exported_token(image, ids.front());
    }

    // Enrolls against a clean provisioning run and checks that it unlocks.
    void enroll_clean() {
        auto e = snp_enroll(provision("clean"));
        ASSERT_EQ(e.exit_code, 0) << show(e);
        expect_unlocked(snp_unlock());
    }

    // Refused by the vTPM itself: exit 1, "ok" false, the reason names `what`,
    // and TPM2_Unseal was sent (the TPM answered it with an authorization failure).
    static json expect_refused_by_tpm(const ProcessResult& r, const std::vector<std::string>& what) {
        const json j = expect_refusal(r, what);
        if (!j.is_object()) return j;
        EXPECT_TRUE(names_command(j, kUnseal)) << "the refusal did not come from TPM2_Unseal: " << j.dump(2);
        return j;
    }

    // `unlock --key-to-stdout` (no --test) prints nothing and fails.
    void expect_nothing_released(const std::vector<std::string>& extra = {}) {
        std::vector<std::string> args = {"unlock", image, "--tpm", tpm.tcti(), "--snp-anchors", anchors, "--key-to-stdout"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto k = cli(args);
        EXPECT_EQ(k.exit_code, 1) << show(k);
        EXPECT_EQ(k.out, "");
    }

    // The sealed object's public area as tpm2_print shows it (attributes, policy).
    std::string object_attributes(const json& token) {
        const std::string file = path("object.pub");
        write_file(file, base64_decode(token.value("tpm_public", "")));
        auto r = run_process({"tpm2_print", "-t", "TPM2B_PUBLIC", file});
        EXPECT_EQ(r.exit_code, 0) << show(r);
        return lower(r.out);
    }

    std::string anchors;
};

TEST_F(UnlockSnp, EnrolledAzureHclVolumeUnlocksAfterTheGate) {
    const std::string p = provision("clean");
    ASSERT_FALSE(debug_bit_set(read_file(p + "/hcl-report.bin")));
    // What the TPM holds in NV is the report the tool says it wrote.
    auto nv = tpm2({"tpm2_nvread", kHclNvIndex, "-C", "o", "-o", path("nv.bin")});
    ASSERT_EQ(nv.exit_code, 0) << show(nv);
    ASSERT_EQ(read_file(path("nv.bin")), read_file(p + "/hcl-report.bin"));

    auto e = snp_enroll(p);
    ASSERT_EQ(e.exit_code, 0) << show(e);
    const json ej = parse_json(e.out);
    ASSERT_TRUE(ej.is_object()) << e.out;
    ASSERT_TRUE(field(ej, "snp").is_object()) << ej.dump(2);
    EXPECT_EQ(ej["snp"].value("azure_bound", false), true) << ej.dump(2);

    // The token, read by stock cryptsetup: evidence named, the VCEK of this chain cached, default policy.
    const json t = only_token();
    ASSERT_TRUE(t.contains("snp") && t["snp"].is_object()) << t.dump(2);
    EXPECT_EQ(t["snp"].value("evidence", ""), "azure-hcl");
    ASSERT_TRUE(field(t["snp"], "vcek").is_string()) << t.dump(2);
    EXPECT_EQ(base64_decode(t["snp"]["vcek"].get<std::string>()), read_file(p + "/vcek.der"));
    ASSERT_TRUE(field(t["snp"], "policy").is_object()) << t.dump(2);
    EXPECT_FALSE(t["snp"]["policy"].value("allow_debug", false)) << t.dump(2);

    auto r = snp_unlock();
    expect_unlocked(r);
    EXPECT_EQ(parse_json(r.out)["snp"].value("key_from", ""), "token") << r.out;

    // --key-to-stdout goes through the same gate; stock cryptsetup accepts what it prints.
    auto k = cli({"unlock", image, "--tpm", tpm.tcti(), "--snp-anchors", anchors, "--key-to-stdout"});
    ASSERT_EQ(k.exit_code, 0) << show(k);
    const std::string passphrase_file = path("unsealed.key");
    write_file(passphrase_file, k.out);
    EXPECT_TRUE(opens(image, passphrase_file, ej.value("keyslot", -1)));
    write_file(passphrase_file, k.out + "x");
    EXPECT_FALSE(opens(image, passphrase_file, ej.value("keyslot", -1)));  // the check can fail
}

TEST_F(UnlockSnp, DebugGuestIsRefusedBeforeUnsealing) {
    ASSERT_NO_FATAL_FAILURE(enroll_clean());
    const std::string p = provision("debug", {"--debug"});
    ASSERT_TRUE(debug_bit_set(read_file(p + "/hcl-report.bin")));

    const json j = expect_refused_before_unseal(snp_unlock(p), {"debug"});
    ASSERT_TRUE(field(j, "snp").is_object()) << j.dump(2);
    ASSERT_EQ(field(j["snp"], "refusals").size(), 1u) << j.dump(2);
    EXPECT_EQ(j["snp"]["refusals"][0].value("check", ""), "debug") << j.dump(2);
    EXPECT_EQ(j["snp"].value("key_from", ""), p + "/vcek.der") << j.dump(2);  // verified, then refused by policy

    auto k = cli({"unlock", image, "--tpm", tpm.tcti(), "--snp-anchors", anchors, "--vcek", p + "/vcek.der",
                  "--key-to-stdout"});
    EXPECT_EQ(k.exit_code, 1) << show(k);
    EXPECT_EQ(k.out, "");

    // Control: the same steps without --debug unlock again.
    const std::string clean = provision("clean-again");
    expect_unlocked(snp_unlock(clean));
}

TEST_F(UnlockSnp, ForeignAkIsRefusedAtBindingStepB) {
    ASSERT_NO_FATAL_FAILURE(enroll_clean());
    const std::string p = provision("foreign", {"--foreign-ak"});
    expect_refused_before_unseal(snp_unlock(p), {"binding", "(b)", "0x81000003"});
    expect_unlocked(snp_unlock(provision("clean-again")));
}

TEST_F(UnlockSnp, AkThatCannotCertifyIsRefusedAtBindingStepC) {
    ASSERT_NO_FATAL_FAILURE(enroll_clean());
    const std::string p = provision("ak-auth", {"--ak-auth"});
    expect_refused_before_unseal(snp_unlock(p), {"binding", "(c)", "certif"});
    expect_unlocked(snp_unlock(provision("clean-again")));
}

TEST_F(UnlockSnp, MissingHclReportIsRefused) {
    ASSERT_NO_FATAL_FAILURE(enroll_clean());
    auto u = tpm2({"tpm2_nvundefine", kHclNvIndex, "-C", "o"});
    ASSERT_EQ(u.exit_code, 0) << show(u);
    ASSERT_NE(tpm2({"tpm2_nvreadpublic", kHclNvIndex}).exit_code, 0);  // really gone
    expect_refused_before_unseal(snp_unlock(), {"0x01400001"});

    // The tool's own --no-nv: the AK is there, the report is not.
    provision("no-nv", {"--no-nv"});
    ASSERT_NE(tpm2({"tpm2_nvreadpublic", kHclNvIndex}).exit_code, 0);
    expect_refused_before_unseal(snp_unlock(path("no-nv")), {"0x01400001"});
}

// The token is host-writable: dropping its "snp" object, or relaxing its
// policy, must not let a debug guest unlock. Dropping it leaves a token whose
// fields no longer give the sealed object's policy (PolicyAuthValue is in it):
// refused before anything is sent to unseal. Relaxing it keeps the policy's
// shape, but the requirement is bound into the sealed object's authValue:
// TPM2_Unseal is sent and the vTPM itself refuses it, so nothing is released.
// The object is noDA (no PIN), so the tampering does not count against the
// vTPM's dictionary-attack lockout.
TEST_F(UnlockSnp, DowngradedTokenIsRefusedByTheTpm) {
    ASSERT_NO_FATAL_FAILURE(enroll_clean());
    const auto ids = cvmunlock_token_ids(image);
    ASSERT_EQ(ids.size(), 1u);
    const json original = exported_token(image, ids.front());
    ASSERT_TRUE(original.contains("snp")) << original.dump(2);
    const std::string attrs = object_attributes(original);
    EXPECT_TRUE(contains(attrs, "noda")) << attrs;
    const std::string p = provision("debug", {"--debug"});
    const long lockout_counter = tpm_property("TPM2_PT_LOCKOUT_COUNTER");

    json stripped = original;
    stripped.erase("snp");
    ASSERT_NO_FATAL_FAILURE(replace_token(image, ids.front(), stripped));
    const json s = expect_refusal(snp_unlock(p), {"header was altered", "PIN or SEV-SNP requirement"});
    EXPECT_TRUE(field(s, "tpm_command_codes").empty()) << "refused before asking the vTPM anything: " << s.dump(2);
    expect_nothing_released();

    json relaxed = original;
    relaxed["snp"]["policy"]["allow_debug"] = true;
    ASSERT_NO_FATAL_FAILURE(replace_token(image, ids.front(), relaxed));
    const json j = expect_refused_by_tpm(snp_unlock(p), {"SEV-SNP requirement", "header was altered", "TPM2_Unseal"});
    EXPECT_TRUE(field(j, "snp").is_object()) << "the relaxed gate passed, then the TPM refused: " << j.dump(2);
    EXPECT_FALSE(contains(lower(field(field(j, "error"), "message").dump()), "wrong pin")) << j.dump(2);  // no PIN here
    expect_nothing_released({"--vcek", p + "/vcek.der"});

    // Relaxed and run on a clean guest: the gate passes, the TPM still refuses.
    const std::string clean = provision("clean-relaxed");
    expect_refused_by_tpm(snp_unlock(clean), {"SEV-SNP requirement", "header was altered"});
    EXPECT_EQ(tpm_property("TPM2_PT_LOCKOUT_COUNTER"), lockout_counter) << "a noDA object's failures must not count";

    // Control: the untouched token still refuses the debug guest, and unlocks a clean one.
    ASSERT_NO_FATAL_FAILURE(replace_token(image, ids.front(), original));
    expect_refused_before_unseal(snp_unlock(p), {"debug"});
    expect_unlocked(snp_unlock(provision("clean-again")));
}

// PIN and SNP requirement together: one authValue covers both; the object is
// DA-protected (the PIN needs it), and a refusal names both possible causes.
TEST_F(UnlockSnp, PinAndSnpRequirementAreBothBound) {
    const std::string pin_file = path("pin");
    const std::string wrong_pin_file = path("wrong-pin");
    write_file(pin_file, "1234");
    write_file(wrong_pin_file, "1235");
    // Room for the failures below (empty lockout authorization on a fresh swtpm).
    auto da = tpm2({"tpm2_dictionarylockout", "--setup-parameters", "--max-tries=10", "--recovery-time=600",
                    "--lockout-recovery-time=600"});
    ASSERT_EQ(da.exit_code, 0) << show(da);
    auto e = snp_enroll(provision("clean"), {"--pin-file", pin_file});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    const json original = only_token();
    ASSERT_TRUE(original.contains("snp") && field(original, "pin").is_object()) << original.dump(2);
    const std::string attrs = object_attributes(original);
    EXPECT_FALSE(contains(attrs, "noda")) << attrs;
    const std::vector<std::string> with_pin = {"--snp-anchors", anchors, "--pin-file", pin_file, "--json"};
    expect_unlocked(unlock(image, with_pin));

    const long before = tpm_property("TPM2_PT_LOCKOUT_COUNTER");
    auto r = unlock(image, {"--snp-anchors", anchors, "--pin-file", wrong_pin_file, "--json"});
    json j = expect_refused_by_tpm(r, {"wrong PIN", "SEV-SNP requirement", "TPM2_Unseal"});
    EXPECT_EQ(tpm_property("TPM2_PT_LOCKOUT_COUNTER"), before + 1) << "a PIN object is DA-protected";

    // The right PIN with a relaxed requirement: refused by the TPM all the same.
    json relaxed = original;
    relaxed["snp"]["policy"]["allow_debug"] = true;
    ASSERT_NO_FATAL_FAILURE(replace_token(image, cvmunlock_token_ids(image).front(), relaxed));
    expect_refused_by_tpm(unlock(image, with_pin), {"wrong PIN", "SEV-SNP requirement", "header was altered"});
    auto k = cli({"unlock", image, "--tpm", tpm.tcti(), "--snp-anchors", anchors, "--pin-file", pin_file,
                  "--key-to-stdout"});
    EXPECT_EQ(k.exit_code, 1) << show(k);
    EXPECT_EQ(k.out, "");

    // Stripped of "snp" (the PIN kept): the auth is the bare PIN's, not the sealed one.
    json stripped = original;
    stripped.erase("snp");
    ASSERT_NO_FATAL_FAILURE(replace_token(image, cvmunlock_token_ids(image).front(), stripped));
    expect_refused_by_tpm(unlock(image, with_pin), {"wrong PIN", "TPM2_Unseal"});

    ASSERT_NO_FATAL_FAILURE(replace_token(image, cvmunlock_token_ids(image).front(), original));
    expect_unlocked(unlock(image, with_pin));
}

TEST_F(UnlockSnp, ReportFromAnUntrustedChainIsRefused) {
    ASSERT_NO_FATAL_FAILURE(enroll_clean());
    // Only the AMD roots (built in; an anchor directory with copies of them adds
    // nothing): the test ARK is not among them, so the report is refused before
    // anything is unsealed, naming the failed verification.
    const std::string amd_only = path("amd-only");
    fs::create_directories(amd_only);
    for (const char* f : {"ask_ark_milan.pem", "ask_ark_genoa.pem"}) {
        fs::copy_file(kAmdRoots + "/" + f, amd_only + "/" + f);
    }
    expect_refused_before_unseal(snp_unlock({}, amd_only), {"verif"});
    const std::string empty = path("no-anchors");
    fs::create_directories(empty);
    expect_refused_before_unseal(snp_unlock({}, empty), {"verif", "ASK"});

    // A re-provisioned report is signed by a VCEK the token does not cache: without it, refused.
    const std::string p = provision("new-chain");
    expect_refused_before_unseal(snp_unlock(), {"verif", "token"});
    expect_unlocked(snp_unlock(p));
    // Its VCEK alone does not make it trusted: remove its ARK from the anchors.
    fs::remove(anchors + "/new-chain.pem");
    expect_refused_before_unseal(snp_unlock(p), {"verif"});
}

TEST_F(UnlockSnp, DebugGuestCannotEnrollWithoutAllowDebug) {
    const std::string p = provision("debug", {"--debug"});
    ASSERT_TRUE(debug_bit_set(read_file(p + "/hcl-report.bin")));
    const json before = luks_metadata(image);

    auto e = snp_enroll(p);
    EXPECT_EQ(e.exit_code, 1) << show(e);
    EXPECT_TRUE(contains(lower(e.err), "debug")) << e.err;
    const json after = luks_metadata(image);
    EXPECT_TRUE(cvmunlock_token_ids(image).empty()) << after.dump(2);
    EXPECT_EQ(after["keyslots"], before["keyslots"]) << after.dump(2);
    EXPECT_EQ(after["keyslots"].size(), 1u);

    // With --allow-debug the policy says so in the token, and the debug guest unlocks.
    e = snp_enroll(p, {"--allow-debug"});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    const json t = only_token();
    ASSERT_TRUE(field(field(t, "snp"), "policy").is_object()) << t.dump(2);
    EXPECT_EQ(t["snp"]["policy"].value("allow_debug", false), true) << t.dump(2);
    expect_unlocked(snp_unlock());
}

TEST_F(UnlockSnp, SnpOffEnrollmentMakesNoSnpAccess) {
    provision("clean");  // an Azure-like vTPM, but the volume does not ask for SNP
    auto e = enroll(image, {"--pcrs", "7", "--json"});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    EXPECT_TRUE(parse_json(e.out)["snp"].is_null()) << e.out;
    const json t = only_token();
    EXPECT_FALSE(t.contains("snp")) << t.dump(2);

    auto r = unlock(image, {"--json"});
    ASSERT_EQ(r.exit_code, 0) << show(r);
    const json j = parse_json(r.out);
    ASSERT_TRUE(j.is_object()) << r.out;
    EXPECT_TRUE(names_command(j, kUnseal)) << j.dump(2);
    EXPECT_TRUE(j["snp"].is_null()) << j.dump(2);
    for (const Command& c : {kNvReadPublic, kNvRead, kCertify}) EXPECT_FALSE(sent(j, c)) << c.name << j.dump(2);

    // Removing the HCL report changes nothing for it.
    ASSERT_EQ(tpm2({"tpm2_nvundefine", kHclNvIndex, "-C", "o"}).exit_code, 0);
    EXPECT_EQ(unlock(image).exit_code, 0);
}

}  // namespace
}  // namespace cvmunlock::unlock_test
