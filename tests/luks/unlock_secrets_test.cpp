// Secrets stay where they belong: the recovery key only on enroll's stdout, the
// PIN and the keyslot passphrase nowhere, and nothing secret on the TPM link.
#include <regex>

#include "unlock_fixture.hpp"

namespace cvmunlock::unlock_test {
namespace {

// Every regular file under root except the listed ones, as (path, content).
std::vector<std::pair<std::string, std::string>> files_under(const std::string& root,
                                                             const std::vector<std::string>& except) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
        if (!entry.is_regular_file()) continue;
        const std::string p = entry.path().string();
        if (std::find(except.begin(), except.end(), p) == except.end()) out.emplace_back(p, read_file(p));
    }
    return out;
}

TEST_F(UnlockSwtpm, RecoveryKeyPinAndPassphraseDoNotLeak) {
    const std::string pin = "leak-check-PIN-5821-qz";
    const std::string pin_file = path("pin");
    write_file(pin_file, pin);
    const std::string pin_image = make_image("pin.img");

    auto e = enroll(image, {"--pcrs", "7", "--recovery-key"});
    ASSERT_EQ(e.exit_code, 0) << show(e);
    // Text mode: the recovery key alone on stdout.
    ASSERT_TRUE(std::regex_match(e.out, std::regex("([cbdefghijklnrtuv]{8}-){7}[cbdefghijklnrtuv]{8}\n"))) << e.out;
    const std::string recovery = e.out.substr(0, e.out.size() - 1);
    const std::string recovery_file = path("recovery.key");
    write_file(recovery_file, recovery);
    ASSERT_TRUE(opens(image, recovery_file));
    auto p = enroll(pin_image, {"--pcrs", "7", "--pin-file", pin_file, "--json"});
    ASSERT_EQ(p.exit_code, 0) << show(p);

    // The keyslot passphrase, found independently: base64 of the first 32 sealed bytes.
    const std::string sealed = unseal_with_tpm2_tools(image, 0);
    ASSERT_EQ(sealed.size(), 64u) << peer_error;
    const std::string passphrase = base64_encode(sealed.substr(0, 32));
    const std::string passphrase_file = path("passphrase");
    write_file(passphrase_file, passphrase);
    ASSERT_TRUE(opens(image, passphrase_file, std::stoi(exported_token(image, 0)["keyslots"][0].get<std::string>())));

    std::vector<std::pair<std::string, ProcessResult>> outputs = {{"enroll (PIN)", p}};
    outputs.emplace_back("unlock", unlock(image));
    outputs.emplace_back("unlock --json", unlock(image, {"--json"}));
    outputs.emplace_back("unlock PIN", unlock(pin_image, {"--pin-file", pin_file}));
    outputs.emplace_back("unlock PIN --json", unlock(pin_image, {"--pin-file", pin_file, "--json"}));
    outputs.emplace_back("status", cli({"status", image, "--tpm", tpm.tcti(), "--json"}));
    outputs.emplace_back("status PIN", cli({"status", pin_image, "--tpm", tpm.tcti()}));
    extend_pcr(7, "sha256", std::string(64, 'a'));
    outputs.emplace_back("refused unlock --json", unlock(image, {"--json"}));
    outputs.emplace_back("refused unlock PIN", unlock(pin_image, {"--pin-file", pin_file}));
    for (const auto& [what, r] : outputs) {
        for (const auto& [name, secret] : {std::pair{"recovery key", recovery},
                                           {"PIN", pin},
                                           {"passphrase", passphrase},
                                           {"raw secret", sealed.substr(0, 32)}}) {
            EXPECT_FALSE(contains(r.out + r.err, secret)) << name << " in the output of " << what << ":\n" << show(r);
        }
    }
    EXPECT_FALSE(contains(e.err, recovery)) << e.err;

    const std::string headers = luks_metadata(image).dump() + luks_metadata(pin_image).dump();
    auto files = files_under(dir, {recovery_file, pin_file, passphrase_file});
    for (auto& f : files_under(tpm.state_dir(), {}))
        files.push_back(std::move(f));
    files.emplace_back("LUKS2 metadata", headers);
    for (const auto& [where, content] : files) {
        EXPECT_FALSE(contains(content, recovery)) << "recovery key in " << where;
        EXPECT_FALSE(contains(content, pin)) << "PIN in " << where;
        EXPECT_FALSE(contains(content, passphrase)) << "passphrase in " << where;
        EXPECT_FALSE(contains(content, sealed.substr(0, 32))) << "raw sealed secret in " << where;
    }
}

// What the host sees on the vTPM link, captured with tpm2-tss's pcap TCTI around
// the swtpm TCTI. Proves: no volume key, no sealed volume-key pin, no sealed secret
// and no keyslot passphrase crosses the link in the clear during enroll or
// unlock (TPM2_Create's sensitive data and TPM2_Unseal's response are parameter-
// encrypted), while the same search does find the secret when tpm2-tools unseals
// without encryption (the control) and the capture holds the Unseal command.
// Does not prove: that the session salt resists an active attacker who
// impersonates the TPM (that rests on the SRK name check), nor anything about
// process memory, swap or the token plugin's path.
TEST_F(UnlockSwtpm, NoSecretCrossesTheTpmLinkInTheClear) {
    const std::string enroll_pcap = path("enroll.pcap");
    const std::string unlock_pcap = path("unlock.pcap");
    const std::string control_pcap = path("control.pcap");
    const std::vector<std::string> pcap_env = {"TCTI_PCAP_FILE=" + enroll_pcap};
    std::vector<std::string> args = {"enroll", image,    "--tpm", "pcap:" + tpm.tcti(), "--unlock-key-file",
                                     key_file, "--pcrs", "7"};
    auto e = cli(args, pcap_env);
    ASSERT_EQ(e.exit_code, 0) << show(e);
    auto r = cli({"unlock", "--test", "--tpm", "pcap:" + tpm.tcti(), image}, {"TCTI_PCAP_FILE=" + unlock_pcap});
    ASSERT_EQ(r.exit_code, 0) << show(r);

    const std::string vk_file = path("volume.key");
    auto d = run_process({"cryptsetup", "luksDump", "--dump-volume-key", "--volume-key-file", vk_file, "--key-file",
                          key_file, "--batch-mode", image});
    ASSERT_EQ(d.exit_code, 0) << show(d);
    const std::string volume_key = read_file(vk_file);
    ASSERT_EQ(volume_key.size(), 64u);
    // Token version 2 pins the volume key's LUKS2 digest (docs/token-format.md), as stock cryptsetup dumps it.
    static constexpr char kPinDomain[] = "cvmunlock volume-key digest pin v2";  // with its NUL
    auto uuid = run_process({"cryptsetup", "luksUUID", image});
    ASSERT_EQ(uuid.exit_code, 0) << show(uuid);
    const std::string luks_uuid = uuid.out.substr(0, uuid.out.find('\n'));
    auto dump = run_process({"cryptsetup", "luksDump", "--dump-json-metadata", image});
    ASSERT_EQ(dump.exit_code, 0) << show(dump);
    const json digest = json::parse(dump.out).at("digests").begin().value();
    const std::string nul(1, '\0');
    const std::string vk_pin = sha256(std::string(kPinDomain, sizeof kPinDomain) + luks_uuid + nul +
                                      digest.at("hash").get<std::string>() + nul +
                                      std::to_string(digest.at("iterations").get<std::uint64_t>()) + nul +
                                      digest.at("salt").get<std::string>() + nul + digest.at("digest").get<std::string>());

    const std::string sealed = unseal_with_tpm2_tools(image, 0, control_pcap);
    ASSERT_EQ(sealed.size(), 64u) << peer_error;
    EXPECT_EQ(to_hex(sealed.substr(32)), to_hex(vk_pin))
        << "the sealed pin is not SHA-256(domain || uuid || hash || iterations || salt || digest)";
    const std::string secret = sealed.substr(0, 32);
    const std::string passphrase = base64_encode(secret);
    const std::string passphrase_file = path("passphrase");
    write_file(passphrase_file, passphrase);
    EXPECT_TRUE(opens(image, passphrase_file, std::stoi(exported_token(image, 0)["keyslots"][0].get<std::string>())));

    const std::string unseal_cc("\x00\x00\x01\x5e", 4);  // TPM_CC_Unseal, big-endian on the wire
    const std::string create_cc("\x00\x00\x01\x53", 4);  // TPM_CC_Create
    const std::string control = read_file(control_pcap);
    ASSERT_TRUE(contains(control, secret)) << "control: an unencrypted unseal must show the secret in the capture";

    const std::string enroll_capture = read_file(enroll_pcap);
    const std::string unlock_capture = read_file(unlock_pcap);
    EXPECT_TRUE(contains(enroll_capture, create_cc)) << enroll_capture.size() << " bytes captured";
    EXPECT_TRUE(contains(unlock_capture, unseal_cc)) << unlock_capture.size() << " bytes captured";
    for (const auto& [name, capture] : {std::pair{"enroll", enroll_capture}, {"unlock", unlock_capture}}) {
        EXPECT_FALSE(contains(capture, secret)) << "sealed secret in the " << name << " capture";
        EXPECT_FALSE(contains(capture, vk_pin)) << "volume-key pin in the " << name << " capture";
        EXPECT_FALSE(contains(capture, passphrase)) << "passphrase in the " << name << " capture";
        EXPECT_FALSE(contains(capture, volume_key.substr(0, 32))) << "volume key in the " << name << " capture";
        EXPECT_FALSE(contains(capture, volume_key.substr(32))) << "volume key in the " << name << " capture";
    }
}

}  // namespace
}  // namespace cvmunlock::unlock_test
