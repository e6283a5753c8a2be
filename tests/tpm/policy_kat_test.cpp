// Known answers for the software policy digests: a trial policy session in a
// real TPM (swtpm), driven by tpm2-tools, must compute the same digest.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "cvmunlock/policy_key.hpp"
#include "cvmunlock/tpm_policy.hpp"
#include "process.hpp"
#include "swtpm.hpp"

namespace cvmunlock {
namespace {

using testing::run_process;

class PolicyKat : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(swtpm.ok()) << swtpm.error(); }
    std::string path(const std::string& name) const { return swtpm.state_dir() + "/" + name; }
    Bytes read(const std::string& name) const {
        std::ifstream in(path(name), std::ios::binary);
        return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    void write(const std::string& name, const Bytes& b) const {
        std::ofstream(path(name), std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    }
    // The PCR values file tpm2-tools reads with -f: the digests concatenated in selection order.
    std::string values_file(const PcrBankValues& bank) const {
        Bytes all;
        for (const auto& [pcr, v] : bank.values) all.insert(all.end(), v.begin(), v.end());
        write("pcrs.bin", all);
        return path("pcrs.bin");
    }
    static std::string list(const PcrBankValues& bank) {
        std::string s = std::string(hash_alg_name(bank.bank)) + ":";
        for (const auto& [pcr, v] : bank.values) s += (s.back() == ':' ? "" : ",") + std::to_string(pcr);
        return s;
    }
    testing::Swtpm swtpm;
};

PcrBankValues sample(HashAlg bank, std::initializer_list<std::uint32_t> pcrs) {
    PcrBankValues b{bank, {}};
    std::uint8_t fill = 0x10;
    for (auto p : pcrs) b.values[p] = Bytes(hash_alg_size(bank), fill++);
    return b;
}

TEST_F(PolicyKat, PolicyPcrMatchesATrialSession) {
    for (const auto& bank : {sample(HashAlg::Sha256, {7}), sample(HashAlg::Sha256, {0, 7, 15}),
                             sample(HashAlg::Sha384, {0, 2, 4, 7, 23})}) {
        SCOPED_TRACE(list(bank));
        auto r = run_process({"tpm2_createpolicy", "-T", swtpm.tcti(), "--policy-pcr", "-l", list(bank), "-f",
                              values_file(bank), "-L", path("policy.dat")});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        auto ours = policy_pcr(HashAlg::Sha256, policy_initial(HashAlg::Sha256), {bank});
        ASSERT_TRUE(ours.has_value());
        EXPECT_EQ(to_hex(*ours), to_hex(read("policy.dat")));
    }
}

TEST_F(PolicyKat, PolicyPcrThenAuthValueMatchesATrialSession) {
    const PcrBankValues bank = sample(HashAlg::Sha256, {7, 15});
    const std::string t = swtpm.tcti();
    ASSERT_EQ(run_process({"tpm2_startauthsession", "-T", t, "-S", path("s.ctx")}).exit_code, 0);
    auto r = run_process({"tpm2_policypcr", "-T", t, "-S", path("s.ctx"), "-l", list(bank), "-f", values_file(bank)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_process({"tpm2_policyauthvalue", "-T", t, "-S", path("s.ctx"), "-L", path("policy.dat")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    run_process({"tpm2_flushcontext", "-T", t, path("s.ctx")});
    auto ours = policy_pcr(HashAlg::Sha256, policy_initial(HashAlg::Sha256), {bank});
    ASSERT_TRUE(ours.has_value());
    auto with_auth = policy_auth_value(HashAlg::Sha256, *ours);
    ASSERT_TRUE(with_auth.has_value());
    EXPECT_EQ(to_hex(*with_auth), to_hex(read("policy.dat")));
}

// The policy index's pieces: PolicyOR over two PolicyPCR branches, then
// PolicyAuthorizeNV on a defined index, and the index's write policy
// (PolicySecret then PolicyCommandCode(NV_Write)): trial sessions in swtpm.
TEST_F(PolicyKat, PolicyOrMatchesATrialSession) {
    const Bytes a(32, 0x11), b(32, 0x22);
    write("a.bin", a);
    write("b.bin", b);
    const std::string t = swtpm.tcti();
    ASSERT_EQ(run_process({"tpm2_startauthsession", "-T", t, "-S", path("s.ctx")}).exit_code, 0);
    auto r = run_process({"tpm2_policyor", "-T", t, "-S", path("s.ctx"), "-L", path("policy.dat"), "-l",
                          "sha256:" + path("a.bin") + "," + path("b.bin")});
    run_process({"tpm2_flushcontext", "-T", t, path("s.ctx")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto ours = policy_or(HashAlg::Sha256, {a, b});
    ASSERT_TRUE(ours.has_value());
    EXPECT_EQ(to_hex(*ours), to_hex(read("policy.dat")));
    EXPECT_FALSE(policy_or(HashAlg::Sha256, {a}).has_value()) << "PolicyOR takes at least two branches";
}

TEST_F(PolicyKat, PolicyAuthorizeNvMatchesATrialSession) {
    const std::string t = swtpm.tcti();
    auto r = run_process({"tpm2_nvdefine", "-T", t, "0x01300010", "-C", "o", "-s", "34", "-a", "authread|authwrite"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_process({"tpm2_nvreadpublic", "-T", t, "0x01300010"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto at = r.out.find("name: ");
    ASSERT_NE(at, std::string::npos) << r.out;
    auto name = from_hex(r.out.substr(at + 6, 68));
    ASSERT_TRUE(name.has_value()) << r.out;
    ASSERT_EQ(run_process({"tpm2_startauthsession", "-T", t, "-S", path("s.ctx")}).exit_code, 0);
    r = run_process({"tpm2_policyauthorizenv", "-T", t, "-S", path("s.ctx"), "-C", "0x01300010", "-L",
                     path("policy.dat"), "0x01300010"});
    run_process({"tpm2_flushcontext", "-T", t, path("s.ctx")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto ours = policy_authorize_nv(HashAlg::Sha256, *name);
    ASSERT_TRUE(ours.has_value());
    EXPECT_EQ(to_hex(*ours), to_hex(read("policy.dat")));
}

TEST_F(PolicyKat, PolicySecretThenCommandCodeMatchesATrialSession) {
    const std::string t = swtpm.tcti();
    // Any entity with a name will do: the owner hierarchy's name is its handle.
    ASSERT_EQ(run_process({"tpm2_startauthsession", "-T", t, "-S", path("s.ctx")}).exit_code, 0);
    auto r = run_process({"tpm2_policysecret", "-T", t, "-S", path("s.ctx"), "-c", "o"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_process({"tpm2_policycommandcode", "-T", t, "-S", path("s.ctx"), "-L", path("policy.dat"),
                     "TPM2_CC_NV_Write"});
    run_process({"tpm2_flushcontext", "-T", t, path("s.ctx")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const Bytes owner_name{0x40, 0x00, 0x00, 0x01};
    auto ours = policy_secret(HashAlg::Sha256, policy_initial(HashAlg::Sha256), owner_name);
    ASSERT_TRUE(ours.has_value());
    auto with_cc = policy_command_code(HashAlg::Sha256, *ours, kCcNvWrite);
    ASSERT_TRUE(with_cc.has_value());
    EXPECT_EQ(to_hex(*with_cc), to_hex(read("policy.dat")));
}

// --policy-key: the RSA key as cvmunlock hands it to TPM2_LoadExternal has the
// name tpm2_loadexternal gives the same PEM key (same public area), and
// PolicyAuthorize by that name matches a trial session.
TEST_F(PolicyKat, PolicyAuthorizeAndTheKeyNameMatchTpm2Tools) {
    const std::string t = swtpm.tcti();
    ASSERT_EQ(run_process({"openssl", "genrsa", "-out", path("k.pem"), "2048"}).exit_code, 0);
    ASSERT_EQ(run_process({"openssl", "rsa", "-in", path("k.pem"), "-pubout", "-out", path("k.pub")}).exit_code, 0);
    auto r = run_process({"tpm2_loadexternal", "-T", t, "-C", "o", "-G", "rsa:rsassa-sha256:null", "-a", "sign|userwithauth", "-u", path("k.pub"),
                          "-n", path("name.bin"), "-c", path("k.ctx")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    run_process({"tpm2_flushcontext", "-T", t, "-t"});
    const Bytes pem = read("k.pub");
    auto pub = rsa_public_key_to_tpm(std::string_view(reinterpret_cast<const char*>(pem.data()), pem.size()));
    ASSERT_TRUE(pub.has_value()) << pub.error().message;
    auto name = tpm_object_name(*pub);
    ASSERT_TRUE(name.has_value());
    EXPECT_EQ(to_hex(*name), to_hex(read("name.bin")));

    write("approved.bin", Bytes(32, 0x5a));
    ASSERT_EQ(run_process({"tpm2_startauthsession", "-T", t, "-S", path("s.ctx")}).exit_code, 0);
    r = run_process({"tpm2_policyauthorize", "-T", t, "-S", path("s.ctx"), "-L", path("policy.dat"), "-i",
                     path("approved.bin"), "-n", path("name.bin")});
    run_process({"tpm2_flushcontext", "-T", t, path("s.ctx")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto ours = policy_authorize(HashAlg::Sha256, *name, {});
    ASSERT_TRUE(ours.has_value());
    EXPECT_EQ(to_hex(*ours), to_hex(read("policy.dat")));
}

}  // namespace
}  // namespace cvmunlock
