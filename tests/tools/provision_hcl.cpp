// cvmunlock-test-provision-hcl --tpm TCTI --out DIR [--debug] [--foreign-ak] [--ak-auth] [--no-nv]
// Makes the TPM behind TCTI (an swtpm) look like an Azure CVM's vTPM: AK at
// 0x81000003, HCL report in NV 0x01400001 signed by a fresh test AMD-style chain.
// Writes DIR/ark.pem (the trust anchor to configure), DIR/ask_ark.pem,
// DIR/vcek.der and DIR/hcl-report.bin.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <CLI/CLI.hpp>

#include "azure_provision.hpp"
#include "snp_test_chain.hpp"
#include "tpm/tpm_context.hpp"

namespace {

bool write_file(const std::filesystem::path& path, const cvmunlock::Bytes& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    out.close();
    if (!out) std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return static_cast<bool>(out);
}
}  // namespace

int main(int argc, char** argv) {
    using namespace cvmunlock;
    CLI::App app{"Provision an swtpm like an Azure CVM's vTPM (test tool)"};
    std::string tcti;
    std::string out_dir;
    testing::AzureProvisionOptions options;
    app.add_option("--tpm", tcti, "TCTI of the TPM (default $CVMUNLOCK_TCTI, then /dev/tpmrm0)");
    app.add_option("--out", out_dir, "directory for ark.pem, ask_ark.pem, vcek.der, hcl-report.bin")->required();
    app.add_flag("--debug", options.debug, "set guest POLICY bit 19 (DEBUG) in the report");
    app.add_flag("--foreign-ak", options.foreign_ak, "name another RSA key than the TPM's AK in the claims");
    app.add_flag("--ak-auth", options.ak_auth, "give the persisted AK an auth value the verifier lacks");
    app.add_flag("--no-nv", options.no_nv, "leave NV 0x01400001 undefined");
    CLI11_PARSE(app, argc, argv);

    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec) return std::fprintf(stderr, "cannot create %s: %s\n", out_dir.c_str(), ec.message().c_str()), 4;
    auto tpm = tpm::TpmContext::open(tpm::resolve_tcti(tcti));
    if (!tpm) return std::fprintf(stderr, "%s\n", tpm.error().message.c_str()), 4;

    const testing::TestChain chain;
    auto done = testing::provision_azure(**tpm, chain, options);
    if (!done) return std::fprintf(stderr, "provisioning failed: %s\n", done.error().message.c_str()), 1;

    const std::filesystem::path dir(out_dir);
    if (!write_file(dir / "ark.pem", chain.ark_pem()) || !write_file(dir / "ask_ark.pem", chain.chain_pem()) ||
        !write_file(dir / "vcek.der", chain.vcek_der()) || !write_file(dir / "hcl-report.bin", done->hcl_report)) {
        return 4;
    }
    std::printf("AK at 0x81000003%s, HCL report of %zu bytes %s, runtime claims %zu bytes; files in %s\n",
                options.ak_auth ? " (with auth)" : "", done->hcl_report.size(),
                options.no_nv ? "NOT written (--no-nv)" : "in NV 0x01400001", done->runtime_json.size(),
                out_dir.c_str());
    return 0;
}
