// Azure confidential VMs: the paravisor's HCL report in vTPM NV 0x01400001 as an
// SNP report source, and the binding between that report and the vTPM.
#pragma once

#include <cstddef>

#include "cvmunlock/hcl_report.hpp"
#include "cvmunlock/snp_source.hpp"
#include "srk.hpp"
#include "tpm_context.hpp"

namespace cvmunlock::tpm {

// Reads the whole HCL report from NV 0x01400001. The report is made by the
// paravisor at boot, so fetch() ignores report_data; freshness comes from
// check_azure_binding's certify nonce. NotFound when the index is not defined
// (not an Azure CVM), InvalidInput when its contents are not an HCL report.
class AzureHclSource final : public snp::ReportSource {
public:
    explicit AzureHclSource(TpmContext& tpm) noexcept : tpm_(tpm) {}
    [[nodiscard]] snp::EvidenceKind kind() const noexcept override { return snp::EvidenceKind::AzureHcl; }
    Result<snp::Evidence> fetch(const snp::ReportData& report_data) override;

private:
    TpmContext& tpm_;
};

inline constexpr std::size_t kBindingNonceSize = 32;
inline constexpr std::size_t kMinBindingNonceSize = 16;

// After the SNP report inside `report` has been verified: binds it to this vTPM.
//  (a) report_data[0:32] == SHA-256(runtime claims JSON),
//  (b) HCLAkPub from the claims == the public area of the key at 0x81000003,
//  (c) that key certifies `srk` over `nonce` (TPM2_Certify), verified with HCLAkPub.
// Checked in that order; the error names the step ("Azure binding (b) ...").
// Tampered/PolicyRefused for a binding that does not hold (a missing AK or one
// that cannot certify is PolicyRefused), Unavailable when the TPM is unreachable.
Result<void> check_azure_binding(TpmContext& tpm, const hcl::HclReport& report, const Srk& srk, ByteView nonce);
// The same with a fresh kBindingNonceSize-byte nonce from OpenSSL's RNG (not the
// TPM's: the nonce must be unpredictable to the vTPM being checked).
Result<void> check_azure_binding(TpmContext& tpm, const hcl::HclReport& report, const Srk& srk);

}  // namespace cvmunlock::tpm
