#include "azure_hcl_source.hpp"

#include <openssl/rand.h>

#include <cstdio>

#include "attestation_key.hpp"
#include "cvmunlock/hcl_binding.hpp"
#include "nv_index.hpp"

namespace cvmunlock::tpm {

namespace {

std::string nv_origin() {
    char buf[32];
    std::snprintf(buf, sizeof buf, "NV 0x%08x", hcl::kNvIndex);
    return buf;
}

// A TPM that answers but will not read or certify with the AK does not prove the
// binding: refuse, unless the TPM could not be reached at all.
Error refusal(const Error& e, const std::string& step) {
    Error out = e.context(step);
    if (out.code == ErrorCode::Internal || out.code == ErrorCode::NotFound) out.code = ErrorCode::PolicyRefused;
    return out;
}

constexpr const char* kStepA = "Azure binding (a) report_data[0:32] = SHA-256(runtime claims)";
constexpr const char* kStepB = "Azure binding (b) HCLAkPub = the AK at 0x81000003";
constexpr const char* kStepC = "Azure binding (c) the AK certifies the SRK over a fresh nonce";
}  // namespace

Result<snp::Evidence> AzureHclSource::fetch(const snp::ReportData& /*report_data*/) {
    const std::string origin = nv_origin();
    auto contents = nv_read_all(tpm_, hcl::kNvIndex);
    if (!contents) return std::unexpected(contents.error());
    auto parsed = hcl::parse_hcl_report(*contents);
    if (!parsed) return std::unexpected(parsed.error().context("HCL report in " + origin));
    snp::Evidence ev;
    ev.kind = snp::EvidenceKind::AzureHcl;
    ev.report = std::move(parsed->hw_report);
    ev.hcl_report = std::move(*contents);
    ev.origin = origin;
    return ev;
}

Result<void> check_azure_binding(TpmContext& tpm, const hcl::HclReport& report, const Srk& srk, ByteView nonce) {
    if (nonce.size() < kMinBindingNonceSize) {
        return fail(ErrorCode::InvalidInput, std::string(kStepC) + ": nonce of " + std::to_string(nonce.size()) +
                                                 " bytes, at least " + std::to_string(kMinBindingNonceSize) +
                                                 " needed");
    }
    if (auto a = hcl::check_runtime_hash(report); !a) return std::unexpected(a.error().context(kStepA));

    auto ak = hcl::ak_public_from_runtime(report.runtime_json);
    if (!ak) return std::unexpected(refusal(ak.error(), kStepB));
    auto ak_key = open_persistent_key(tpm, hcl::kAkPersistentHandle);
    if (!ak_key) return std::unexpected(refusal(ak_key.error(), kStepB));
    if (auto b = hcl::ak_matches(ak_key->public_blob, *ak); !b) return std::unexpected(refusal(b.error(), kStepB));

    auto cert = certify_with_ak(tpm, *ak_key, srk.tpm_handle, nonce);
    if (!cert) return std::unexpected(refusal(cert.error(), kStepC));
    if (auto c = hcl::verify_certify(cert->attest, cert->signature, *ak, nonce, srk.name); !c) {
        return std::unexpected(refusal(c.error(), kStepC));
    }
    return {};
}

Result<void> check_azure_binding(TpmContext& tpm, const hcl::HclReport& report, const Srk& srk) {
    Bytes nonce(kBindingNonceSize);
    if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) {
        return fail(ErrorCode::Internal, std::string(kStepC) + ": OpenSSL could not make a nonce");
    }
    return check_azure_binding(tpm, report, srk, nonce);
}

}  // namespace cvmunlock::tpm
