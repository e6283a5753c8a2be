#include "policy_index.hpp"

#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include <cstdio>
#include <cstring>

#include "cvmunlock/hash.hpp"
#include "cvmunlock/policy_key.hpp"
#include "cvmunlock/tpm_policy.hpp"
#include "esys_ptr.hpp"
#include "nv_index.hpp"
#include "session.hpp"

namespace cvmunlock::tpm {

namespace {
constexpr std::uint32_t kCcPolicyAuthorizeNv = 0x00000192;  // TPM 2.0 Part 2, 6.5.2

std::string handle_text(std::uint32_t index) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", index);
    return buf;
}

// The index's write policy: PolicySecret(writer), then PolicyCommandCode(NV_Write).
Result<Bytes> write_policy(ByteView writer_name) {
    auto d = policy_secret(HashAlg::Sha256, policy_initial(HashAlg::Sha256), writer_name);
    if (!d) return d;
    return policy_command_code(HashAlg::Sha256, *d, kCcNvWrite);
}

constexpr std::uint16_t kPolicySize = 2 + 32;  // TPMT_HA of sha256

TPM2B_NV_PUBLIC index_public(std::uint32_t index, ByteView policy) {
    TPM2B_NV_PUBLIC pub{};
    pub.nvPublic.nvIndex = index;
    pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
    // TPM 2.0 Part 2, 13.4: an ordinary index, read with its (empty) authValue,
    // written only through its policy; noDA, since reading it takes no secret.
    pub.nvPublic.attributes = (TPM2_NT_ORDINARY << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_POLICYWRITE | TPMA_NV_AUTHREAD |
                              TPMA_NV_NO_DA;
    pub.nvPublic.authPolicy.size = static_cast<UINT16>(policy.size());
    std::memcpy(pub.nvPublic.authPolicy.buffer, policy.data(), policy.size());
    pub.nvPublic.dataSize = kPolicySize;
    return pub;
}
}  // namespace

Result<bool> supports_policy_authorize_nv(TpmContext& tpm) {
    auto caps = tpm.capability(TPM2_CAP_COMMANDS, kCcPolicyAuthorizeNv, 1, "TPM_CAP_COMMANDS");
    if (!caps) return std::unexpected(caps.error());
    const auto& cmds = (*caps)->data.command;
    // TPMA_CC (Part 2, 8.9): the command code is the low 16 bits.
    return cmds.count > 0 && (cmds.commandAttributes[0] & TPMA_CC_COMMANDINDEX_MASK) == (kCcPolicyAuthorizeNv & 0xFFFF);
}

Result<SealedBlob> create_policy_writer(TpmContext& tpm, const Srk& srk) {
    TPM2B_SENSITIVE_CREATE sensitive{};
    // Random content makes each writer's name unique even if the TPM's seed were not.
    sensitive.sensitive.data.size = 32;
    if (RAND_bytes(sensitive.sensitive.data.buffer, 32) != 1) return fail(ErrorCode::Internal, "RAND_bytes failed");
    TPM2B_PUBLIC in_public{};
    TPMT_PUBLIC& p = in_public.publicArea;
    p.type = TPM2_ALG_KEYEDHASH;
    p.nameAlg = TPM2_ALG_SHA256;
    p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA;
    p.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
    auto blob = create_object(tpm, srk, sensitive, in_public);
    wipe(&sensitive, sizeof sensitive);
    if (!blob) return std::unexpected(blob.error().context("creating the policy writer object"));
    return blob;
}

Result<Bytes> object_name(const Bytes& public_blob) { return tpm_object_name(public_blob); }

Result<std::uint32_t> define_policy_index(TpmContext& tpm, ByteView writer_name, std::optional<std::uint32_t> wanted) {
    auto policy = write_policy(writer_name);
    if (!policy) return std::unexpected(policy.error());
    const std::uint32_t first = wanted.value_or(kPolicyIndexFirst);
    const std::uint32_t last = wanted.value_or(kPolicyIndexLast);
    for (std::uint32_t index = first; index <= last; ++index) {
        TPM2B_NV_PUBLIC pub = index_public(index, *policy);
        TPM2B_AUTH empty{};
        ESYS_TR tr = ESYS_TR_NONE;
        TSS2_RC rc = Esys_NV_DefineSpace(tpm.esys(), ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                         &empty, &pub, &tr);
        if (rc == TSS2_RC_SUCCESS) return index;
        // TPM_RC_NV_DEFINED (Part 2, 6.6.3): taken, try the next one.
        if ((rc & 0xFFF) == (TPM2_RC_NV_DEFINED & 0xFFF) && !wanted) continue;
        return std::unexpected(esys_error(tpm.esys(), "TPM2_NV_DefineSpace(" + handle_text(index) +
                                                          ", owner hierarchy, empty password)", rc));
    }
    return fail(ErrorCode::Unavailable, "no free NV index in " + handle_text(kPolicyIndexFirst) + ".." +
                                            handle_text(kPolicyIndexLast) + " for the policy");
}

Result<Bytes> write_policy_index(TpmContext& tpm, const Srk& srk, const SealedBlob& writer, std::uint32_t index,
                                 ByteView policy) {
    ESYS_CONTEXT* esys = tpm.esys();
    auto nv = tpm_resource(tpm, index, "the policy NV index " + handle_text(index) + " is not defined");
    if (!nv) return std::unexpected(nv.error());
    auto loaded = load_object(tpm, srk, writer);
    if (!loaded) return std::unexpected(loaded.error().context("the policy writer object (another or a reset vTPM?)"));
    auto session = Session::start(tpm, nullptr, TPM2_SE_POLICY, 0);
    if (!session) return std::unexpected(session.error());
    TPM2B_NONCE no_nonce{};
    TPM2B_DIGEST no_cphash{};
    TPM2B_NONCE no_ref{};
    TPM2B_TIMEOUT* timeout = nullptr;
    TPMT_TK_AUTH* ticket = nullptr;
    TSS2_RC rc = Esys_PolicySecret(esys, loaded->get(), session->get(), ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                   &no_nonce, &no_cphash, &no_ref, 0, &timeout, &ticket);
    EsysPtr<TPM2B_TIMEOUT> t1(timeout);
    EsysPtr<TPMT_TK_AUTH> t2(ticket);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(esys_error(esys, "TPM2_PolicySecret(policy writer)", rc));
    rc = Esys_PolicyCommandCode(esys, session->get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, kCcNvWrite);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(esys_error(esys, "TPM2_PolicyCommandCode(NV_Write)", rc));
    const Bytes content = marshal_tpmt_ha(HashAlg::Sha256, policy);
    TPM2B_MAX_NV_BUFFER data{};
    data.size = static_cast<UINT16>(content.size());
    std::memcpy(data.buffer, content.data(), content.size());
    rc = Esys_NV_Write(esys, *nv, *nv, session->get(), ESYS_TR_NONE, ESYS_TR_NONE, &data, 0);
    if (rc != TSS2_RC_SUCCESS) {
        return std::unexpected(esys_error(esys, "TPM2_NV_Write(" + handle_text(index) + ") with the writer's policy", rc));
    }
    TPM2B_NAME* name_raw = nullptr;
    if (rc = Esys_TR_GetName(esys, *nv, &name_raw); rc != TSS2_RC_SUCCESS) {
        return std::unexpected(esys_error(esys, "reading the policy index's name", rc));
    }
    EsysPtr<TPM2B_NAME> name(name_raw);
    return Bytes(name->name, name->name + name->size);
}

Result<Bytes> read_policy_index(TpmContext& tpm, std::uint32_t index) {
    auto content = nv_read_all(tpm, index);
    if (!content) return std::unexpected(content.error());
    if (content->size() != kPolicySize || (*content)[0] != 0x00 || (*content)[1] != 0x0B) {
        return fail(ErrorCode::Tampered, "the policy NV index " + handle_text(index) + " does not hold a sha256 policy");
    }
    return Bytes(content->begin() + 2, content->end());
}

Result<void> undefine_policy_index(TpmContext& tpm, std::uint32_t index) {
    auto nv = tpm_resource(tpm, index, "the policy NV index " + handle_text(index) + " is not defined");
    if (!nv) return std::unexpected(nv.error());
    TSS2_RC rc = Esys_NV_UndefineSpace(tpm.esys(), ESYS_TR_RH_OWNER, *nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS) return std::unexpected(esys_error(tpm.esys(), "TPM2_NV_UndefineSpace(" + handle_text(index) + ")", rc));
    return {};
}

Result<void> undefine_policy_index_of(TpmContext& tpm, std::uint32_t index, ByteView writer_name) {
    auto policy = write_policy(writer_name);
    if (!policy) return std::unexpected(policy.error());
    TPM2B_NV_PUBLIC expected = index_public(index, *policy);
    expected.nvPublic.attributes |= TPMA_NV_WRITTEN;
    std::uint8_t buf[sizeof(TPMS_NV_PUBLIC)];
    std::size_t used = 0;
    if (Tss2_MU_TPMS_NV_PUBLIC_Marshal(&expected.nvPublic, buf, sizeof buf, &used) != TSS2_RC_SUCCESS) {
        return fail(ErrorCode::Internal, "marshaling the policy index's public area");
    }
    auto digest = hash_bytes(HashAlg::Sha256, ByteView(buf, used));
    if (!digest) return std::unexpected(digest.error());
    Bytes want = {0x00, 0x0B};  // nameAlg sha256
    want.insert(want.end(), digest->begin(), digest->end());

    auto nv = tpm_resource(tpm, index, "the policy NV index " + handle_text(index) + " is not defined");
    if (!nv) return std::unexpected(nv.error());
    TPM2B_NAME* name_raw = nullptr;
    if (TSS2_RC rc = Esys_TR_GetName(tpm.esys(), *nv, &name_raw); rc != TSS2_RC_SUCCESS) {
        return std::unexpected(esys_error(tpm.esys(), "reading the policy index's name", rc));
    }
    EsysPtr<TPM2B_NAME> name(name_raw);
    if (Bytes(name->name, name->name + name->size) != want) {
        return fail(ErrorCode::PolicyRefused, "the NV index " + handle_text(index) +
                                                  " is not the policy index this volume's writer writes: left alone");
    }
    return undefine_policy_index(tpm, index);
}

}  // namespace cvmunlock::tpm
