// The engine's view of the SNP adapters: pick and build the report source a
// token names, and run the Azure vTPM binding. Kept apart from the gate's logic
// so the gate reads as the sequence of checks.
#pragma once

#include <memory>

#include "cvmunlock/hcl_report.hpp"
#include "cvmunlock/snp_source.hpp"
#include "tpm/srk.hpp"
#include "tpm/tpm_context.hpp"

namespace cvmunlock::engine {

// `auto` resolved on this machine: azure-hcl under a Hyper-V SNP paravisor,
// else configfs-tsm when its sev_guest provider is there, else /dev/sev-guest.
// Unavailable when none is usable.
Result<snp::EvidenceKind> resolve_evidence_kind(snp::EvidenceKind requested);

Result<std::unique_ptr<snp::ReportSource>> make_report_source(snp::EvidenceKind kind, tpm::TpmContext& tpm);

// HCLAkPub == the AK at 0x81000003, and that AK certifies `srk` over `nonce` now.
Result<void> bind_azure_vtpm(tpm::TpmContext& tpm, const hcl::HclReport& report, const tpm::Srk& srk,
                             ByteView nonce);

}  // namespace cvmunlock::engine
