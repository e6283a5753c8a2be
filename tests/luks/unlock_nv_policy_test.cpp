// enroll --nv-policy and update-policy against swtpm: the sealed object's
// policy is PolicyAuthorizeNV on a policy index; an update admits the
// predicted next boot (checked against the PCRs that boot really has), a
// boot after it drops the old one, and what nobody predicted is refused.
// A "reboot" is a second swtpm started on a copy of the first one's state:
// NV indexes persist, PCRs start from their reset values.
#include "cvmunlock/authenticode.hpp"
#include "cvmunlock/eventlog.hpp"
#include "sample_pe.hpp"
#include "unlock_fixture.hpp"

namespace cvmunlock::unlock_test {
namespace {

class NvPolicy : public UnlockSwtpm {
protected:
    // The vector log with its PCR 4 application events carrying `image`'s
    // hash (as if firmware and shim had loaded it), written to `name`.
    std::string log_with_image(const std::string& name, const Bytes& pe) {
        const std::string raw = read_file(kEventLog);
        auto parsed = parse_event_log(Bytes(raw.begin(), raw.end()));
        EXPECT_TRUE(parsed.has_value());
        int changed = 0;
        for (Event& ev : parsed->events) {
            if (ev.pcr != 4 || ev.type != event_type::kEfiBootServicesApplication) continue;
            for (auto& d : ev.digests) d.digest = *authenticode_digest(pe, *hash_alg_from_id(d.alg_id));
            if (++changed == 2) break;
        }
        EXPECT_EQ(changed, 2);
        const Bytes out = serialize_event_log(*parsed);
        write_file(path(name), std::string(out.begin(), out.end()));
        return path(name);
    }
    std::string image_file(const std::string& name, const Bytes& pe) {
        write_file(path(name), std::string(pe.begin(), pe.end()));
        return path(name);
    }
    ProcessResult update_policy(const std::string& tcti, const std::string& log, std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"update-policy", image, "--tpm", tcti, "--state-dir", path("state"),
                                         "--eventlog", log, "--json"};
        args.insert(args.end(), extra.begin(), extra.end());
        return cli(args);
    }
    std::string pcr_of(testing::Swtpm& t, unsigned pcr) {
        const std::string out = path("pcr.bin");
        auto r = run_process({"tpm2_pcrread", "-T", t.tcti(), "sha256:" + std::to_string(pcr), "-o", out});
        EXPECT_EQ(r.exit_code, 0) << show(r);
        return to_hex(read_file(out));
    }
    void enroll_nv() {
        auto e = enroll(image, {"--pcrs", "4,7", "--nv-policy", "--state-dir", path("state"), "--eventlog", log_a});
        ASSERT_EQ(e.exit_code, 0) << show(e);
    }

    const Bytes kernel_a = testing::sample_pe_image(1);
    const Bytes kernel_b = testing::sample_pe_image(2);
    std::string log_a, file_a, file_b;
    void SetUp() override {
        UnlockSwtpm::SetUp();
        log_a = log_with_image("boot-a.bin", kernel_a);
        file_a = image_file("vmlinuz-a", kernel_a);
        file_b = image_file("vmlinuz-b", kernel_b);
        extend_log(log_a);
    }
};

TEST_F(NvPolicy, EnrollsOnAPolicyIndexThatTpm2ToolsSees) {
    enroll_nv();
    const json token = exported_token(image, cvmunlock_token_ids(image).at(0));
    ASSERT_TRUE(token.contains("nv_policy")) << token.dump(2);
    const auto index = token["nv_policy"]["index"].get<std::uint32_t>();
    char handle[16];
    std::snprintf(handle, sizeof handle, "0x%x", index);
    auto r = tpm2({"tpm2_nvreadpublic", handle});
    ASSERT_EQ(r.exit_code, 0) << show(r);
    EXPECT_TRUE(contains(r.out, "policywrite|authread|no_da|written")) << r.out;
    EXPECT_TRUE(contains(r.out, "name: " + token["nv_policy"]["name"].get<std::string>())) << r.out;
    // The index holds a TPMT_HA (sha256) of the single branch's PolicyPCR.
    r = tpm2({"tpm2_nvread", handle, "-C", handle, "-o", path("nv.bin")});
    ASSERT_EQ(r.exit_code, 0) << show(r);
    EXPECT_EQ(read_file(path("nv.bin")).size(), 34u);
    // The writer object is on the "root" with mode 0600, not in the header.
    const auto writer = std::filesystem::path(path("state")) /
                        ("policy-writer-" + luks_metadata(image)["config"].value("uuid", std::string()) + "-" +
                         std::string(handle).replace(0, 2, "0x0") + ".json");
    bool found = false;
    for (const auto& f : std::filesystem::directory_iterator(path("state"))) {
        found = true;
        EXPECT_EQ(std::filesystem::status(f).permissions() & std::filesystem::perms::all,
                  std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        EXPECT_FALSE(contains(token.dump(), json::parse(read_file(f.path().string()))["private"].get<std::string>()));
    }
    EXPECT_TRUE(found) << writer;
    EXPECT_EQ(unlock(image).exit_code, 0);
}

TEST_F(NvPolicy, AKernelUpdateIsAdmittedBeforeTheRebootAndTheOldBootDroppedAfterIt) {
    enroll_nv();
    const std::string pcr4_a = pcr_value(4);
    auto u = update_policy(tpm.tcti(), log_a, {"--update", file_a + ":" + file_b});
    ASSERT_EQ(u.exit_code, 0) << show(u);
    const json rep = parse_json(u.out);
    ASSERT_TRUE(rep.is_object()) << u.out;
    EXPECT_EQ(rep["branches"], 2);
    EXPECT_EQ(rep["current"]["4"], pcr4_a);
    ASSERT_TRUE(rep["predicted"].is_object()) << rep.dump(2);
    EXPECT_NE(rep["predicted"]["4"], pcr4_a);
    EXPECT_EQ(rep["replaced_events"].size(), 2u);
    EXPECT_EQ(unlock(image).exit_code, 0) << "this boot stays admitted";

    // The reboot into kernel B: PCR 4 is what update-policy predicted.
    testing::Swtpm boot_b(tpm.state_dir());
    ASSERT_TRUE(boot_b.ok()) << boot_b.error();
    const std::string log_b = log_with_image("boot-b.bin", kernel_b);
    ASSERT_EQ(run_process({kExtendLogTool, boot_b.tcti(), log_b}).exit_code, 0);
    EXPECT_EQ(pcr_of(boot_b, 4), rep["predicted"]["4"].get<std::string>());
    EXPECT_EQ(pcr_of(boot_b, 7), rep["current"]["7"].get<std::string>());
    auto r = unlock(image, {}, boot_b.tcti());
    EXPECT_EQ(r.exit_code, 0) << show(r);
    // A volume sealed to boot A's PCRs alone would have refused boot B.
    const std::string plain = make_image("plain.img");
    ASSERT_EQ(enroll(plain, {"--pcrs", "4,7", "--pcr-value", "4:sha256=" + pcr4_a}).exit_code, 0);
    r = unlock(plain, {"--json"}, boot_b.tcti());
    EXPECT_EQ(r.exit_code, 1) << show(r);

    // After the successful boot: only boot B stays admitted.
    u = update_policy(boot_b.tcti(), log_b);
    ASSERT_EQ(u.exit_code, 0) << show(u);
    EXPECT_EQ(parse_json(u.out)["dropped"], 1) << u.out;
    EXPECT_EQ(parse_json(u.out)["branches"], 1) << u.out;
    EXPECT_EQ(unlock(image, {}, boot_b.tcti()).exit_code, 0);
    // Rolling back to kernel A (same vTPM state, boot A's measurements) is refused, naming PCR 4.
    testing::Swtpm back_to_a(boot_b.state_dir());
    ASSERT_TRUE(back_to_a.ok()) << back_to_a.error();
    ASSERT_EQ(run_process({kExtendLogTool, back_to_a.tcti(), log_a}).exit_code, 0);
    r = unlock(image, {"--json"}, back_to_a.tcti());
    EXPECT_EQ(r.exit_code, 1) << show(r);
    const json refusal = parse_json(r.out);
    ASSERT_TRUE(refusal.is_object()) << r.out;
    ASSERT_EQ(refusal["changed_pcrs"].size(), 1u) << refusal.dump(2);
    EXPECT_EQ(refusal["changed_pcrs"][0]["pcr"], 4);
}

TEST_F(NvPolicy, AnUnpredictedKernelIsRefusedNamingPcr4) {
    enroll_nv();
    ASSERT_EQ(update_policy(tpm.tcti(), log_a, {"--update", file_a + ":" + file_b}).exit_code, 0);
    testing::Swtpm boot_c(tpm.state_dir());
    ASSERT_TRUE(boot_c.ok()) << boot_c.error();
    ASSERT_EQ(run_process({kExtendLogTool, boot_c.tcti(), log_with_image("boot-c.bin", testing::sample_pe_image(3))})
                  .exit_code, 0);
    auto r = unlock(image, {"--json"}, boot_c.tcti());
    EXPECT_EQ(r.exit_code, 1) << show(r);
    const json j = parse_json(r.out);
    ASSERT_TRUE(j.is_object()) << r.out;
    EXPECT_EQ(j["error"]["code"], "pcr-changed") << j.dump(2);
    ASSERT_EQ(j["changed_pcrs"].size(), 1u) << j.dump(2);
    EXPECT_EQ(j["changed_pcrs"][0]["pcr"], 4);
    EXPECT_TRUE(opens(image, key_file)) << "the passphrase still opens";
}

TEST_F(NvPolicy, AnImageThisBootDidNotLoadIsNotPredictedAndNothingChanges) {
    enroll_nv();
    const json before = exported_token(image, 0);
    const std::string other = image_file("vmlinuz-other", testing::sample_pe_image(4));
    auto u = update_policy(tpm.tcti(), log_a, {"--update", other + ":" + file_b});
    EXPECT_EQ(u.exit_code, 1) << show(u);
    EXPECT_TRUE(contains(u.err, other)) << u.err;
    EXPECT_EQ(exported_token(image, 0), before);
}

TEST_F(NvPolicy, ALogThatDoesNotReproduceTheVtpmIsNotPredictedFrom) {
    enroll_nv();
    const std::string log_b = log_with_image("boot-b.bin", kernel_b);  // not what this swtpm measured
    auto u = update_policy(tpm.tcti(), log_b, {"--update", file_b + ":" + file_a});
    EXPECT_EQ(u.exit_code, 1) << show(u);
    EXPECT_TRUE(contains(u.err, "replaying the log does not give the vTPM's PCR 4")) << u.err;
}

TEST_F(NvPolicy, ABranchTheHostAddsToTheTokenIsNotAdmitted) {
    enroll_nv();
    json token = exported_token(image, 0);
    // The host lists the values of another boot as authorized, and boots it.
    testing::Swtpm other(tpm.state_dir());
    ASSERT_TRUE(other.ok()) << other.error();
    ASSERT_EQ(run_process({kExtendLogTool, other.tcti(), log_with_image("boot-x.bin", kernel_b)}).exit_code, 0);
    json branch = token["nv_policy"]["branches"][0];
    branch["4"] = pcr_of(other, 4);
    token["nv_policy"]["branches"].push_back(branch);
    replace_token(image, 0, token);
    auto r = unlock(image, {"--json"}, other.tcti());
    EXPECT_EQ(r.exit_code, 1) << show(r);
    EXPECT_TRUE(contains(r.err, "policy index does not admit")) << r.err;
}

// update-policy writes the token with the new list as "pending", then the
// index, then the token with the list in force: a crash between the writes
// leaves a volume that still unlocks.
TEST_F(NvPolicy, AnInterruptedUpdateStillUnlocks) {
    enroll_nv();
    const json old_token = exported_token(image, 0);
    ASSERT_EQ(update_policy(tpm.tcti(), log_a, {"--update", file_a + ":" + file_b}).exit_code, 0);
    const json new_token = exported_token(image, 0);
    ASSERT_EQ(new_token["nv_policy"]["branches"].size(), 2u);

    // Crash after the index was written: the token still has the old list, plus the pending one.
    json mid = old_token;
    mid["nv_policy"]["pending"] = new_token["nv_policy"]["branches"];
    replace_token(image, 0, mid);
    auto r = unlock(image);
    EXPECT_EQ(r.exit_code, 0) << show(r);

    // Crash before the index was written is the same token against the old index:
    // a fresh volume enrolled on its own index shows it.
    const std::string second = make_image("second.img");
    auto e = enroll(second, {"--pcrs", "4,7", "--nv-policy", "--state-dir", path("state")});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    json pending = exported_token(second, 0);
    pending["nv_policy"]["pending"] = new_token["nv_policy"]["branches"];
    replace_token(second, 0, pending);
    r = unlock(second);
    EXPECT_EQ(r.exit_code, 0) << show(r);
}

TEST_F(NvPolicy, WithoutTheWriterFileNothingIsWritten) {
    enroll_nv();
    std::filesystem::remove_all(path("state"));
    const json before = exported_token(image, 0);
    auto u = update_policy(tpm.tcti(), log_a, {"--update", file_a + ":" + file_b});
    EXPECT_EQ(u.exit_code, 4) << show(u);
    EXPECT_TRUE(contains(u.err, "policy writer")) << u.err;
    EXPECT_EQ(exported_token(image, 0), before);
    EXPECT_EQ(unlock(image).exit_code, 0);
}

// Wiping the token takes its policy index and writer file with it; a token the
// host pointed at another volume's index (same vTPM) removes nothing of it.
TEST_F(NvPolicy, WipeRemovesThePolicyIndexAndItsWriterButNeverAnotherVolumes) {
    enroll_nv();
    const auto index = exported_token(image, 0)["nv_policy"]["index"].get<std::uint32_t>();
    char handle[16];
    std::snprintf(handle, sizeof handle, "0x%x", index);
    // A second volume on the same vTPM, its own index and writer.
    const std::string other = make_image("other.img");
    auto e = enroll(other, {"--pcrs", "4,7", "--nv-policy", "--state-dir", path("state"), "--eventlog", log_a});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    const auto other_index = exported_token(other, 0)["nv_policy"]["index"].get<std::uint32_t>();
    ASSERT_NE(other_index, index);
    char other_handle[16];
    std::snprintf(other_handle, sizeof other_handle, "0x%x", other_index);
    auto files = [this] {
        std::size_t n = 0;
        for (const auto& f : std::filesystem::directory_iterator(path("state"))) n += f.is_regular_file() ? 1 : 0;
        return n;
    };
    ASSERT_EQ(files(), 2u);

    // The host edits this volume's token to name the other volume's index.
    json edited = exported_token(image, 0);
    edited["nv_policy"]["index"] = other_index;
    replace_token(image, 0, edited);
    auto w = cli({"wipe", image, "--tpm", tpm.tcti(), "--unlock-key-file", key_file, "--state-dir", path("state"),
                  "--json"});
    ASSERT_EQ(w.exit_code, 0) << show(w);
    EXPECT_TRUE(contains(w.err, "kept: this volume has no writer file for it")) << w.err;
    EXPECT_EQ(tpm2({"tpm2_nvreadpublic", other_handle}).exit_code, 0);
    EXPECT_EQ(files(), 2u);
    EXPECT_EQ(unlock(other).exit_code, 0);

    // The other volume's own wipe: its index and writer file go.
    w = cli({"wipe", other, "--tpm", tpm.tcti(), "--unlock-key-file", key_file, "--state-dir", path("state")});
    ASSERT_EQ(w.exit_code, 0) << show(w);
    EXPECT_TRUE(contains(w.err, "policy index 0x0" + std::string(other_handle + 2) + " removed, and its writer file"))
        << w.err;
    EXPECT_NE(tpm2({"tpm2_nvreadpublic", other_handle}).exit_code, 0);
    EXPECT_EQ(files(), 1u);  // this volume's writer stays: its index is still defined and unused
    EXPECT_EQ(tpm2({"tpm2_nvreadpublic", handle}).exit_code, 0);
}

// Enrolling again with --wipe-slot=cvmunlock removes the old token's index, but
// never the new token's, even when the host edited the old token to name the
// handle the new enrollment takes (the first free one after the old index).
TEST_F(NvPolicy, ReenrollingNeverReleasesTheNewTokensIndex) {
    enroll_nv();
    const auto old_index = exported_token(image, 0)["nv_policy"]["index"].get<std::uint32_t>();
    json edited = exported_token(image, 0);
    edited["nv_policy"]["index"] = old_index + 1;
    replace_token(image, 0, edited);
    auto e = enroll(image, {"--pcrs", "4,7", "--nv-policy", "--state-dir", path("state"), "--eventlog", log_a,
                            "--wipe-slot=cvmunlock"});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    const auto ids = cvmunlock_token_ids(image);
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_EQ(exported_token(image, ids.at(0))["nv_policy"]["index"].get<std::uint32_t>(), old_index + 1);
    EXPECT_EQ(unlock(image).exit_code, 0);
}

TEST_F(NvPolicy, AVolumeWithoutAnNvPolicyTokenIsNamed) {
    ASSERT_EQ(enroll(image, {"--pcrs", "7"}).exit_code, 0);
    auto u = update_policy(tpm.tcti(), log_a);
    EXPECT_EQ(u.exit_code, 5) << show(u);
    EXPECT_EQ(parse_json(u.out)["error"]["code"], "no-token") << u.out;
    EXPECT_TRUE(contains(u.err, "no cvmunlock token enrolled with --nv-policy")) << u.err;
}

// The package's helper, as the kernel hook and the after-boot unit run it:
// every crypttab volume with a --nv-policy token is updated, others are left
// alone, and a failure never fails the package operation.
TEST_F(NvPolicy, TheHookUpdatesEveryNvPolicyVolumeOfCrypttabAndNeverFails) {
    enroll_nv();
    const std::string plain = make_image("plain.img");
    ASSERT_EQ(enroll(plain, {"--pcrs", "7"}).exit_code, 0);
    const json plain_before = exported_token(plain, 0);
    const std::string crypttab = path("crypttab");
    write_file(crypttab, "# comment\nroot " + image + " none luks\nother " + plain + " none luks\ngone /dev/disk/by-uuid/0000 none\n");
    const std::string hook = (std::filesystem::path(CVMUNLOCK_CLI).parent_path().parent_path().parent_path() /
                              "update-hooks/update-policy-all").string();
    const std::string bin_dir = std::filesystem::path(CVMUNLOCK_CLI).parent_path().string();
    const std::vector<std::string> env = {"PATH=" + bin_dir + ":/usr/sbin:/usr/bin:/sbin:/bin", "CVMUNLOCK_TCTI=" + tpm.tcti()};
    auto r = run_process({"sh", hook, "--kernel", file_b, "--state-dir", path("state"), "--crypttab", crypttab}, env);
    // --kernel names the running kernel's successor: this host's running kernel is no PCR 4 event of the
    // test log, so the prediction is refused, named, and the hook still succeeds.
    EXPECT_EQ(r.exit_code, 0) << show(r);
    EXPECT_TRUE(contains(r.err, "root (" + image + "): the vTPM policy was not updated")) << r.err;
    r = run_process({"sh", hook, "--state-dir", path("state"), "--crypttab", crypttab}, env);
    EXPECT_EQ(r.exit_code, 0) << show(r);
    EXPECT_FALSE(contains(r.err, "not updated")) << r.err;
    EXPECT_EQ(exported_token(plain, 0), plain_before);
    // A boot the policy does not admit (here: PCR 4 extended after boot) does
    // not admit itself: the hook names the volume and the policy stays.
    const json admitted = exported_token(image, 0);
    extend_pcr(4, "sha256", std::string(64, 'b'));
    r = run_process({"sh", hook, "--state-dir", path("state"), "--crypttab", crypttab}, env);
    EXPECT_EQ(r.exit_code, 0) << show(r);
    EXPECT_TRUE(contains(r.err, "root (" + image + "): the vTPM policy was not updated")) << r.err;
    EXPECT_TRUE(contains(r.err, "this boot is not one the vTPM's policy index admits (PCR 4")) << r.err;
    EXPECT_EQ(exported_token(image, 0), admitted);
}

// A boot that opened with the recovery key (here: PCR 7 as with Secure Boot
// off) cannot admit itself, even when the host lists it in the token: the
// list is checked against the index.
TEST_F(NvPolicy, AnUnadmittedBootCannotAdmitItselfEvenWithAnEditedToken) {
    enroll_nv();
    extend_pcr(7, "sha256", std::string(64, 'c'));
    auto u = update_policy(tpm.tcti(), log_a);
    EXPECT_EQ(u.exit_code, 1) << show(u);
    EXPECT_TRUE(contains(u.err, "this boot is not one the vTPM's policy index admits (PCR 7")) << u.err;
    json token = exported_token(image, 0);
    json branch = token["nv_policy"]["branches"][0];
    branch["7"] = pcr_value(7);
    token["nv_policy"]["branches"].push_back(branch);
    replace_token(image, 0, token);
    u = update_policy(tpm.tcti(), log_a);
    EXPECT_EQ(u.exit_code, 1) << show(u);
    EXPECT_TRUE(contains(u.err, "is not what the vTPM's policy index")) << u.err;
    EXPECT_EQ(exported_token(image, 0), token) << "nothing written";
    EXPECT_EQ(unlock(image).exit_code, 1);
}

}  // namespace
}  // namespace cvmunlock::unlock_test
