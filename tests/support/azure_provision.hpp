// Makes an swtpm look like an Azure CVM's vTPM: an RSA-2048 restricted signing
// AK persistent at 0x81000003 and an HCL report (SNP report signed by a test
// AMD-style chain, report_data[0:32] = SHA-256 of runtime claims naming the AK)
// in NV 0x01400001. Used by cvmunlock-test-provision-hcl and the swtpm tests.
#pragma once

#include <cstdint>
#include <string>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"
#include "cvmunlock/hcl_report.hpp"
#include "snp_test_chain.hpp"
#include "tpm/tpm_context.hpp"

namespace cvmunlock::testing {

struct AzureProvisionOptions {
    bool debug = false;       // guest POLICY bit 19 (DEBUG) set in the report
    bool foreign_ak = false;  // the claims name another RSA key than the TPM's AK
    bool ak_auth = false;     // the persisted AK gets an auth value (certify with empty auth fails)
    bool no_nv = false;       // NV 0x01400001 is left undefined
};

struct AzureProvisioned {
    hcl::RsaPublic tpm_ak;      // the key persisted at 0x81000003
    hcl::RsaPublic claimed_ak;  // HCLAkPub in the claims (== tpm_ak unless foreign_ak)
    std::string runtime_json;
    Bytes hcl_report;  // as written to NV (also made with no_nv)
};

// Removes whatever is at the persistent handle / NV index; Ok when nothing was there.
Result<void> evict_persistent(tpm::TpmContext& tpm, std::uint32_t handle);
Result<void> undefine_nv(tpm::TpmContext& tpm, std::uint32_t index);

// Creates the AK as an endorsement-hierarchy primary and persists it at `handle`
// (evicting what was there). `auth` (may be empty) becomes its authValue.
Result<hcl::RsaPublic> create_persistent_ak(tpm::TpmContext& tpm, std::uint32_t handle, const std::string& auth);

// Defines `index` (owner hierarchy, AUTHREAD|OWNERREAD|AUTHWRITE|OWNERWRITE|NO_DA,
// size = data size, replacing an earlier definition) and writes `data` in
// chunks of TPM_PT_NV_BUFFER_MAX.
Result<void> define_and_write_nv(tpm::TpmContext& tpm, std::uint32_t index, ByteView data);

// {"keys":[{"kid":"HCLAkPub",...}],"vm-configuration":{...},"user-data":...}, in Azure's key order.
std::string runtime_claims_json(const hcl::RsaPublic& ak);
// A fresh RSA-2048 public key that no TPM holds.
Result<hcl::RsaPublic> foreign_rsa_public();
// HCL report around a report signed by `chain` with report_data[0:32] = SHA-256(runtime_json).
Result<Bytes> build_hcl_report(const TestChain& chain, const std::string& runtime_json, bool debug);

Result<AzureProvisioned> provision_azure(tpm::TpmContext& tpm, const TestChain& chain,
                                         const AzureProvisionOptions& options);

}  // namespace cvmunlock::testing
