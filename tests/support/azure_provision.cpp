#include "azure_provision.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include <nlohmann/json.hpp>

#include "cvmunlock/hash.hpp"
#include "cvmunlock/token.hpp"
#include "tpm/esys_ptr.hpp"
#include "tpm/nv_index.hpp"
#include "tpm/srk.hpp"

namespace cvmunlock::testing {

namespace {

constexpr std::uint32_t kRsaDefaultExponent = 65537;

Bytes exponent_bytes(std::uint32_t e) {
    Bytes out;
    for (int shift = 24; shift >= 0; shift -= 8) {
        const auto b = static_cast<std::uint8_t>(e >> shift);
        if (!out.empty() || b != 0) out.push_back(b);
    }
    return out;
}

std::string base64url(ByteView data) {
    std::string s = base64_encode(data);
    std::replace(s.begin(), s.end(), '+', '-');
    std::replace(s.begin(), s.end(), '/', '_');
    s.erase(std::find(s.begin(), s.end(), '='), s.end());
    return s;
}

TPM2B_PUBLIC ak_template() {
    TPM2B_PUBLIC t{};
    TPMT_PUBLIC& p = t.publicArea;
    p.type = TPM2_ALG_RSA;
    p.nameAlg = TPM2_ALG_SHA256;
    p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                         TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |
                         TPMA_OBJECT_NODA;
    p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
    p.parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
    p.parameters.rsaDetail.keyBits = 2048;
    p.parameters.rsaDetail.exponent = 0;
    return t;
}

struct PkeyFree {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct BnFree {
    void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};

Result<Bytes> bn_param(const EVP_PKEY* key, const char* name) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) return fail(ErrorCode::Internal, std::string("no RSA ") + name);
    std::unique_ptr<BIGNUM, BnFree> bn(raw);
    Bytes out(static_cast<std::size_t>(BN_num_bytes(bn.get())));
    BN_bn2bin(bn.get(), out.data());
    return out;
}
}  // namespace

// EvictControl and NV_UndefineSpace drop the ESYS_TR themselves.
Result<void> evict_persistent(tpm::TpmContext& tpm, std::uint32_t handle) {
    auto tr = tpm::tpm_resource(tpm, handle, "");
    if (!tr) return tr.error().code == ErrorCode::NotFound ? Result<void>{} : std::unexpected(tr.error());
    ESYS_TR gone = ESYS_TR_NONE;
    TSS2_RC rc = Esys_EvictControl(tpm.esys(), ESYS_TR_RH_OWNER, *tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                   handle, &gone);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm::tss_error("TPM2_EvictControl(remove)", rc));
    return {};
}

Result<void> undefine_nv(tpm::TpmContext& tpm, std::uint32_t index) {
    auto tr = tpm::tpm_resource(tpm, index, "");
    if (!tr) return tr.error().code == ErrorCode::NotFound ? Result<void>{} : std::unexpected(tr.error());
    TSS2_RC rc = Esys_NV_UndefineSpace(tpm.esys(), ESYS_TR_RH_OWNER, *tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm::tss_error("TPM2_NV_UndefineSpace", rc));
    return {};
}

Result<hcl::RsaPublic> create_persistent_ak(tpm::TpmContext& tpm, std::uint32_t handle, const std::string& auth) {
    if (auto r = evict_persistent(tpm, handle); !r) return std::unexpected(r.error());
    TPM2B_SENSITIVE_CREATE sensitive{};
    if (auth.size() > sizeof sensitive.sensitive.userAuth.buffer)
        return fail(ErrorCode::InvalidInput, "AK auth too long");
    sensitive.sensitive.userAuth.size = static_cast<UINT16>(auth.size());
    std::memcpy(sensitive.sensitive.userAuth.buffer, auth.data(), auth.size());
    TPM2B_PUBLIC in_public = ak_template();
    TPM2B_DATA outside{};
    TPML_PCR_SELECTION creation_pcr{};
    ESYS_TR transient = ESYS_TR_NONE;
    TPM2B_PUBLIC* out_raw = nullptr;
    TSS2_RC rc =
        Esys_CreatePrimary(tpm.esys(), ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive,
                           &in_public, &outside, &creation_pcr, &transient, &out_raw, nullptr, nullptr, nullptr);
    tpm::EsysPtr<TPM2B_PUBLIC> out(out_raw);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm::tss_error("TPM2_CreatePrimary(AK)", rc));
    tpm::ObjectHandle loaded(tpm.esys(), transient, true);
    ESYS_TR persistent = ESYS_TR_NONE;
    rc = Esys_EvictControl(tpm.esys(), ESYS_TR_RH_OWNER, transient, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                           handle, &persistent);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(tpm::tss_error("TPM2_EvictControl(AK)", rc));
    const TPMT_PUBLIC& p = out->publicArea;
    const std::uint32_t e =
        p.parameters.rsaDetail.exponent == 0 ? kRsaDefaultExponent : p.parameters.rsaDetail.exponent;
    return hcl::RsaPublic{Bytes(p.unique.rsa.buffer, p.unique.rsa.buffer + p.unique.rsa.size), exponent_bytes(e)};
}

Result<void> define_and_write_nv(tpm::TpmContext& tpm, std::uint32_t index, ByteView data) {
    if (auto r = undefine_nv(tpm, index); !r) return std::unexpected(r.error());
    TPM2B_NV_PUBLIC info{};
    info.nvPublic.nvIndex = index;
    info.nvPublic.nameAlg = TPM2_ALG_SHA256;
    info.nvPublic.attributes = TPMA_NV_OWNERWRITE | TPMA_NV_AUTHWRITE | TPMA_NV_OWNERREAD | TPMA_NV_AUTHREAD |
                               TPMA_NV_NO_DA;  // TPM_NT_ORDINARY
    info.nvPublic.dataSize = static_cast<UINT16>(data.size());
    TPM2B_AUTH auth{};
    ESYS_TR nv = ESYS_TR_NONE;  // shared with later lookups of the index: not closed
    TSS2_RC rc = Esys_NV_DefineSpace(tpm.esys(), ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &auth,
                                     &info, &nv);
    if (rc != TSS2_RC_SUCCESS) {
        return std::unexpected(tpm::tss_error("TPM2_NV_DefineSpace(" + std::to_string(data.size()) + " bytes)", rc));
    }
    auto chunk = tpm::nv_buffer_max(tpm);
    if (!chunk) return std::unexpected(chunk.error());
    for (std::size_t off = 0; off < data.size(); off += *chunk) {
        TPM2B_MAX_NV_BUFFER part{};
        part.size = static_cast<UINT16>(std::min<std::size_t>(*chunk, data.size() - off));
        std::memcpy(part.buffer, data.data() + off, part.size);
        rc = Esys_NV_Write(tpm.esys(), nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &part,
                           static_cast<UINT16>(off));
        if (rc != TSS2_RC_SUCCESS)
            return std::unexpected(tpm::tss_error("TPM2_NV_Write(offset " + std::to_string(off) + ")", rc));
    }
    return {};
}

std::string runtime_claims_json(const hcl::RsaPublic& ak) {
    nlohmann::ordered_json key;
    key["kid"] = "HCLAkPub";
    key["key_ops"] = {"sign"};
    key["kty"] = "RSA";
    key["e"] = base64url(ak.exponent);
    key["n"] = base64url(ak.modulus);
    nlohmann::ordered_json doc;
    doc["keys"] = nlohmann::ordered_json::array({key});
    doc["vm-configuration"] = {{"console-enabled", true},
                               {"secure-boot", true},
                               {"tpm-enabled", true},
                               {"vmUniqueId", "00000000-0000-4000-8000-0000CAFE0001"}};
    doc["user-data"] = std::string(128, '0');
    return doc.dump();
}

Result<hcl::RsaPublic> foreign_rsa_public() {
    std::unique_ptr<EVP_PKEY, PkeyFree> key(EVP_RSA_gen(2048));
    if (!key) return fail(ErrorCode::Internal, "OpenSSL could not make an RSA key");
    auto n = bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N);
    auto e = bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E);
    if (!n || !e) return fail(ErrorCode::Internal, "OpenSSL did not give the RSA parameters");
    return hcl::RsaPublic{std::move(*n), std::move(*e)};
}

Result<Bytes> build_hcl_report(const TestChain& chain, const std::string& runtime_json, bool debug) {
    auto digest = hash_bytes(HashAlg::Sha256,
                             ByteView(reinterpret_cast<const std::uint8_t*>(runtime_json.data()), runtime_json.size()));
    if (!digest) return std::unexpected(digest.error());
    snp::ReportData report_data{};
    std::copy(digest->begin(), digest->end(), report_data.begin());
    snp::Report report = chain.make_report(report_data);
    if (debug) report.policy |= snp::policy_bit::kDebug;

    hcl::HclReport hcl;
    hcl.header_version = 1;
    hcl.request_type = 2;  // as in Azure's reports
    hcl.hw_report = chain.sign(report);
    hcl.snp = report;
    hcl.data_version = 1;
    hcl.report_type = hcl::kReportTypeSnp;
    hcl.hash_type = hcl::kHashTypeSha256;
    hcl.runtime_json = runtime_json;
    hcl.data_size = static_cast<std::uint32_t>(hcl::kRequestDataHeaderSize + runtime_json.size());
    hcl.report_size = static_cast<std::uint32_t>(hcl::kRuntimeDataOffset + runtime_json.size());
    return hcl::serialize_hcl_report(hcl);
}

Result<AzureProvisioned> provision_azure(tpm::TpmContext& tpm, const TestChain& chain,
                                         const AzureProvisionOptions& options) {
    AzureProvisioned out;
    auto ak = create_persistent_ak(tpm, hcl::kAkPersistentHandle, options.ak_auth ? "ak-auth-the-verifier-lacks" : "");
    if (!ak) return std::unexpected(ak.error());
    out.tpm_ak = *ak;
    if (options.foreign_ak) {
        auto other = foreign_rsa_public();
        if (!other) return std::unexpected(other.error());
        out.claimed_ak = std::move(*other);
    } else {
        out.claimed_ak = out.tpm_ak;
    }
    out.runtime_json = runtime_claims_json(out.claimed_ak);
    auto report = build_hcl_report(chain, out.runtime_json, options.debug);
    if (!report) return std::unexpected(report.error());
    out.hcl_report = std::move(*report);
    auto r = options.no_nv ? undefine_nv(tpm, hcl::kNvIndex) : define_and_write_nv(tpm, hcl::kNvIndex, out.hcl_report);
    if (!r) return std::unexpected(r.error());
    return out;
}

}  // namespace cvmunlock::testing
