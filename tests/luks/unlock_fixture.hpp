// Shared by the unlock_*_test.cpp suites: each test gets a private swtpm, a temp
// dir and a real LUKS2 image, and drives the real `cvmunlock` binary. What the
// product did is checked from the outside with the stock peers (cryptsetup,
// tpm2-tools), never by reading back only what the product itself printed.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "process.hpp"
#include "swtpm.hpp"

namespace cvmunlock::unlock_test {

using nlohmann::json;
using testing::ProcessResult;
using testing::run_process;

inline const std::string kEventLog =
    std::string(CVMUNLOCK_TEST_DATA) + "/eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin";
// Built beside the CLI (tests/tools): build/src/cli/cvmunlock -> build/tests/tools/cvmunlock-test-extend-log.
inline const std::string kExtendLogTool =
    (std::filesystem::path(CVMUNLOCK_CLI).parent_path().parent_path().parent_path() /
     "tests/tools/cvmunlock-test-extend-log")
        .string();

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
    return !needle.empty() && haystack.find(needle) != std::string::npos;
}

inline std::string show(const ProcessResult& r) {
    return "exit " + std::to_string(r.exit_code) + "\n--- stdout\n" + r.out + "\n--- stderr\n" + r.err;
}

inline json parse_json(const std::string& text) {
    return json::parse(text, nullptr, false);
}

inline std::string lower(std::string s) {
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

inline std::string to_hex(const std::string& bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : bytes) {
        out.push_back(kDigits[c >> 4]);
        out.push_back(kDigits[c & 0xf]);
    }
    return out;
}

inline std::string sha256(const std::string& data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<const char*>(md), len);
}

inline std::string base64_encode(const std::string& data) {
    std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(std::max(n, 0)));
    return out;
}

inline std::string base64_decode(const std::string& text) {
    std::string out(3 * (text.size() / 4) + 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) return {};
    // EVP_DecodeBlock counts the bytes that the '=' padding stands for.
    const auto pad =
        static_cast<std::size_t>(std::count(text.end() - std::min<std::size_t>(text.size(), 2), text.end(), '='));
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

class UnlockSwtpm : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_TRUE(tpm.ok()) << tpm.error();
        char tpl[] = "/tmp/cvmunlock-unlock-XXXXXX";
        ASSERT_NE(::mkdtemp(tpl), nullptr);
        dir = tpl;
        key_file = path("original.key");
        write_file(key_file, "original passphrase of the test volume");  // no newline: --key-file reads it all
        image = make_image("disk.img");
    }
    void TearDown() override {
        std::error_code ec;
        if (!dir.empty()) std::filesystem::remove_all(dir, ec);
    }

    [[nodiscard]] std::string path(const std::string& name) const { return dir + "/" + name; }

    // A 32 MiB LUKS2 image (aes-xts-plain64, 512-bit key) whose keyslot 0 opens with key_file.
    std::string make_image(const std::string& name) {
        const std::string p = path(name);
        std::ofstream(p, std::ios::binary).close();
        std::filesystem::resize_file(p, 32u << 20);
        auto r = run_process({"cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode", "--pbkdf", "pbkdf2",
                              "--pbkdf-force-iterations", "1000", "--key-file", key_file, p});
        EXPECT_EQ(r.exit_code, 0) << "luksFormat " << show(r);
        return p;
    }

    static ProcessResult cli(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
        args.insert(args.begin(), CVMUNLOCK_CLI);
        return run_process(args, env);
    }

    ProcessResult enroll(const std::string& img, const std::vector<std::string>& extra = {}) {
        std::vector<std::string> args = {"enroll", img, "--tpm", tpm.tcti(), "--unlock-key-file", key_file};
        args.insert(args.end(), extra.begin(), extra.end());
        return cli(args);
    }

    ProcessResult unlock(const std::string& img, const std::vector<std::string>& extra = {},
                         const std::string& tcti = {}) {
        std::vector<std::string> args = {"unlock", "--test", "--tpm", tcti.empty() ? tpm.tcti() : tcti};
        args.insert(args.end(), extra.begin(), extra.end());
        args.push_back(img);
        return cli(args);
    }

    // --- peers -------------------------------------------------------------

    static json luks_metadata(const std::string& img) {
        auto r = run_process({"cryptsetup", "luksDump", "--dump-json-metadata", img});
        EXPECT_EQ(r.exit_code, 0) << show(r);
        return parse_json(r.out);
    }

    static json exported_token(const std::string& img, int id) {
        auto r = run_process({"cryptsetup", "token", "export", "--token-id", std::to_string(id), img});
        EXPECT_EQ(r.exit_code, 0) << show(r);
        return parse_json(r.out);
    }

    // Ids of the tokens of type "cvmunlock", as stock cryptsetup sees them.
    static std::vector<int> cvmunlock_token_ids(const std::string& img) {
        std::vector<int> ids;
        const json meta = luks_metadata(img);
        if (!meta.contains("tokens")) return ids;
        for (const auto& [id, t] : meta["tokens"].items()) {
            if (t.value("type", "") == "cvmunlock") ids.push_back(std::stoi(id));
        }
        return ids;
    }

    // Replaces token `id` of `img` with `edited`, as a host editing the header would (stock cryptsetup).
    void replace_token(const std::string& img, int id, const json& edited) {
        const std::string file = path("edited-token.json");
        write_file(file, edited.dump());
        auto r = run_process({"cryptsetup", "token", "import", "--token-id", std::to_string(id), "--token-replace",
                              "--json-file", file, img});
        ASSERT_EQ(r.exit_code, 0) << show(r);
        ASSERT_EQ(exported_token(img, id), edited);  // the edit really is in the header
    }

    // A recovery key in systemd's format, added with stock cryptsetup as older
    // versions added it (no systemd-recovery token); returns its key file.
    std::string add_unmarked_recovery_key(const std::string& img) {
        const std::string recovery_file = path("old-recovery.key");
        write_file(recovery_file, "ccbbddee-ffgghhii-jjkkllnn-rrttuuvv-ccbbddee-ffgghhii-jjkkllnn-rrttuuvv");
        auto add = run_process({"cryptsetup", "luksAddKey", "--batch-mode", "--pbkdf", "pbkdf2",
                                "--pbkdf-force-iterations", "1000", "--key-file", key_file, img, recovery_file});
        EXPECT_EQ(add.exit_code, 0) << show(add);
        return recovery_file;
    }

    // Does stock cryptsetup accept the whole content of key_path as a passphrase?
    static bool opens(const std::string& img, const std::string& key_path, int slot = -1) {
        std::vector<std::string> args = {"cryptsetup", "open", "--test-passphrase", "--key-file", key_path};
        if (slot >= 0) args.insert(args.end(), {"--key-slot", std::to_string(slot)});
        args.push_back(img);
        return run_process(args).exit_code == 0;
    }

    ProcessResult tpm2(std::vector<std::string> args, const std::vector<std::string>& env = {},
                       const std::string& tcti = {}) {
        args.insert(args.begin() + 1, {"-T", tcti.empty() ? tpm.tcti() : tcti});
        return run_process(args, env);
    }

    // Current value of one PCR, lower-case hex, read with tpm2_pcrread.
    std::string pcr_value(unsigned pcr, const std::string& bank = "sha256") {
        auto r = tpm2({"tpm2_pcrread", bank + ":" + std::to_string(pcr)});
        EXPECT_EQ(r.exit_code, 0) << show(r);
        const auto at = r.out.rfind("0x");
        if (at == std::string::npos) return {};
        std::string hex;
        for (std::size_t i = at + 2; i < r.out.size() && std::isxdigit(static_cast<unsigned char>(r.out[i])); ++i)
            hex += r.out[i];
        return lower(hex);
    }

    void extend_pcr(unsigned pcr, const std::string& bank, const std::string& digest_hex) {
        auto r = tpm2({"tpm2_pcrextend", std::to_string(pcr) + ":" + bank + "=" + digest_hex});
        ASSERT_EQ(r.exit_code, 0) << show(r);
    }

    // A TPM2_PT_* variable property as tpm2_getcap reports it ("TPM2_PT_LOCKOUT_COUNTER: 0x1").
    long tpm_property(const std::string& name) {
        auto r = tpm2({"tpm2_getcap", "properties-variable"});
        EXPECT_EQ(r.exit_code, 0) << show(r);
        const auto at = r.out.find(name + ": 0x");
        if (at == std::string::npos) return -1;
        return std::strtol(r.out.c_str() + at + name.size() + 4, nullptr, 16);
    }

    // Handles of one kind ("handles-loaded-session", "handles-transient") as tpm2_getcap lists them.
    std::string tpm_handles(const std::string& kind) {
        auto r = tpm2({"tpm2_getcap", kind});
        EXPECT_EQ(r.exit_code, 0) << show(r);
        return r.out;
    }

    // Extends every measured event of a log into the swtpm, as firmware would have.
    void extend_log(const std::string& log) {
        ASSERT_TRUE(std::filesystem::exists(kExtendLogTool)) << kExtendLogTool << " not built";
        auto r = run_process({kExtendLogTool, tpm.tcti(), log});
        ASSERT_EQ(r.exit_code, 0) << show(r);
    }

    // The token's sealed data, unsealed with tpm2-tools alone (TCG SRK template,
    // PolicyPCR over the token's PCRs and lock PCR): an independent view of the
    // secret, for PIN-less tokens. tpm2-tools without a resource manager leaves
    // transient objects loaded, hence the flushes. With pcap_file, the tools
    // talk through the pcap TCTI into that file. Empty on failure (see peer_error).
    std::string unseal_with_tpm2_tools(const std::string& img, int token_id, const std::string& pcap_file = {});

    testing::Swtpm tpm;
    std::string dir, key_file, image;
    std::string peer_error;  // output of the last failed tpm2-tools step
};

inline std::string UnlockSwtpm::unseal_with_tpm2_tools(const std::string& img, int token_id,
                                                       const std::string& pcap_file) {
    const json t = exported_token(img, token_id);
    if (!t.is_object() || !t.contains("tpm_public")) return {};
    peer_error.clear();
    const std::string peer = path("tpm2-tools");
    std::filesystem::create_directories(peer);
    write_file(peer + "/pub", base64_decode(t["tpm_public"].get<std::string>()));
    write_file(peer + "/priv", base64_decode(t["tpm_private"].get<std::string>()));
    write_file(peer + "/unique", std::string(4, '\0'));  // TPMS_ECC_POINT with empty x and y
    std::vector<unsigned> pcrs = t["pcrs"].get<std::vector<unsigned>>();
    if (!t["lock_pcr"].is_null()) pcrs.push_back(t["lock_pcr"].get<unsigned>());
    std::sort(pcrs.begin(), pcrs.end());
    std::string selection = t["pcr_bank"].get<std::string>() + ":";
    for (std::size_t i = 0; i < pcrs.size(); ++i)
        selection += (i ? "," : "") + std::to_string(pcrs[i]);

    const std::vector<std::string> env =
        pcap_file.empty() ? std::vector<std::string>{} : std::vector<std::string>{"TCTI_PCAP_FILE=" + pcap_file};
    const std::string tcti = pcap_file.empty() ? tpm.tcti() : "pcap:" + tpm.tcti();
    auto flush = [&] { tpm2({"tpm2_flushcontext", "-t"}); };
    auto step = [&](std::vector<std::string> args) {
        auto r = tpm2(std::move(args), env, tcti);
        if (r.exit_code != 0) peer_error = show(r);
        return r.exit_code == 0;
    };
    bool ok = step({"tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc256:null:aes128cfb", "-a",
                    "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt", "-u",
                    peer + "/unique", "-c", peer + "/srk.ctx"});
    flush();
    ok = ok && step({"tpm2_load", "-C", peer + "/srk.ctx", "-u", peer + "/pub", "-r", peer + "/priv", "-c",
                     peer + "/obj.ctx"});
    flush();
    ok = ok && step({"tpm2_startauthsession", "--policy-session", "-S", peer + "/session.ctx"});
    ok = ok && step({"tpm2_policypcr", "-S", peer + "/session.ctx", "-l", selection});
    ok = ok && step({"tpm2_unseal", "-c", peer + "/obj.ctx", "-p", "session:" + peer + "/session.ctx", "-o",
                     peer + "/sealed"});
    flush();
    tpm2({"tpm2_flushcontext", peer + "/session.ctx"});  // only left after a failure
    const std::string sealed = ok ? read_file(peer + "/sealed") : std::string();
    std::error_code ec;
    std::filesystem::remove_all(peer, ec);
    return sealed;
}

}  // namespace cvmunlock::unlock_test
