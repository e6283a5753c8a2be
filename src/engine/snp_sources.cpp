#include "snp_sources.hpp"

#include "snp/configfs_tsm.hpp"
#include "snp/detect.hpp"
#include "snp/sev_guest.hpp"
#include "tpm/azure_hcl_source.hpp"

namespace cvmunlock::engine {

Result<snp::EvidenceKind> resolve_evidence_kind(snp::EvidenceKind requested) {
    if (requested != snp::EvidenceKind::Auto) return requested;
    auto fs = snp::make_real_tsm_fs();
    const snp::Detection d = snp::classify_environment(snp::read_environment(snp::EnvironmentPaths{}, *fs));
    // Under Azure's paravisor the guest's own /dev/sev-guest reports would not
    // vouch for the vTPM: the HCL report (with the binding) comes first there.
    // Otherwise detection's order of preference. Detection never fetches.
    for (const auto& s : d.sources) {
        if (s.usable && s.kind == snp::EvidenceKind::AzureHcl) return s.kind;
    }
    for (const auto& s : d.sources) {
        if (s.usable) return s.kind;
    }
    std::string why;
    for (const auto& s : d.sources) why += (why.empty() ? "" : "; ") + std::string(snp::evidence_kind_name(s.kind)) + ": " + s.reason;
    return fail(ErrorCode::Unavailable, "no SEV-SNP evidence source is usable here (" + d.summary + "; " + why + ")");
}

Result<std::unique_ptr<snp::ReportSource>> make_report_source(snp::EvidenceKind kind, tpm::TpmContext& tpm) {
    switch (kind) {
        case snp::EvidenceKind::AzureHcl:
            return std::unique_ptr<snp::ReportSource>(std::make_unique<tpm::AzureHclSource>(tpm));
        case snp::EvidenceKind::Tsm:
            return std::unique_ptr<snp::ReportSource>(std::make_unique<snp::TsmSource>(snp::make_real_tsm_fs()));
        case snp::EvidenceKind::SevGuest: {
            auto device = snp::open_guest_device();
            if (!device) return std::unexpected(device.error());
            return std::unique_ptr<snp::ReportSource>(std::make_unique<snp::SevGuestSource>(std::move(*device)));
        }
        case snp::EvidenceKind::Auto:
        case snp::EvidenceKind::File:
            break;
    }
    return fail(ErrorCode::InvalidInput, std::string("no report source for evidence kind ") + snp::evidence_kind_name(kind));
}

Result<void> bind_azure_vtpm(tpm::TpmContext& tpm, const hcl::HclReport& report, const tpm::Srk& srk, ByteView nonce) {
    return tpm::check_azure_binding(tpm, report, srk, nonce);
}

}  // namespace cvmunlock::engine
