#include "cvmunlock/policy_key.hpp"

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include <cstring>
#include <set>

#include "cvmunlock/token_policy.hpp"
#include "ossl_ptr.hpp"

namespace cvmunlock {

namespace {
using nlohmann::json;

std::unexpected<Error> bad(const std::string& what) {
    return fail(ErrorCode::InvalidInput, "policy signature: " + what);
}

Result<ossl::Pkey> read_rsa(const void* pem, std::size_t size, bool is_private) {
    ossl::Bio bio(BIO_new_mem_buf(pem, static_cast<int>(size)));
    if (!bio) return fail(ErrorCode::Internal, "BIO_new_mem_buf failed");
    ossl::Pkey key(is_private ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
                              : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (!key) return fail(ErrorCode::InvalidInput, std::string("not a PEM ") + (is_private ? "private" : "public") + " key");
    if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) return fail(ErrorCode::InvalidInput, "the key is not an RSA key");
    const int bits = EVP_PKEY_get_bits(key.get());
    if (bits < 2048 || bits > 4096) return fail(ErrorCode::InvalidInput, "the RSA key has " + std::to_string(bits) + " bits, not 2048..4096");
    return key;
}

// TPM 2.0 Part 2, 12.2.3.5: an RSA signing key for TPM2_LoadExternal (public part only).
Result<Bytes> tpm_public_of(EVP_PKEY* key) {
    BIGNUM* n_raw = nullptr;
    BIGNUM* e_raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n_raw) != 1 ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e_raw) != 1) {
        BN_free(n_raw);
        BN_free(e_raw);
        return fail(ErrorCode::InvalidInput, "the RSA key has no modulus or exponent");
    }
    ossl::Bn n(n_raw), e(e_raw);
    TPM2B_PUBLIC pub{};
    TPMT_PUBLIC& p = pub.publicArea;
    p.type = TPM2_ALG_RSA;
    p.nameAlg = TPM2_ALG_SHA256;
    p.objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_USERWITHAUTH;
    p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
    p.parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
    p.parameters.rsaDetail.keyBits = static_cast<TPMI_RSA_KEY_BITS>(BN_num_bits(n.get()));
    if (BN_num_bytes(e.get()) > 4) return fail(ErrorCode::InvalidInput, "the RSA exponent does not fit 32 bits");
    const BN_ULONG exponent = BN_get_word(e.get());
    p.parameters.rsaDetail.exponent = static_cast<UINT32>(exponent);  // explicit, as tpm2_loadexternal writes it
    const int len = BN_num_bytes(n.get());
    if (len <= 0 || static_cast<std::size_t>(len) > sizeof p.unique.rsa.buffer) return fail(ErrorCode::InvalidInput, "RSA modulus too large");
    p.unique.rsa.size = static_cast<UINT16>(BN_bn2bin(n.get(), p.unique.rsa.buffer));
    Bytes out(sizeof(TPM2B_PUBLIC));
    size_t off = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, out.data(), out.size(), &off) != TSS2_RC_SUCCESS) {
        return fail(ErrorCode::Internal, "marshaling the key's TPM2B_PUBLIC");
    }
    out.resize(off);
    return out;
}

Result<PcrBranch> branch_from(const json& values, HashAlg bank) {
    if (!values.is_object() || values.empty()) return bad("pcrs: missing or empty");
    PcrBranch out;
    for (const auto& [key, v] : values.items()) {
        unsigned pcr = 0;
        auto value = v.is_string() ? from_hex(v.get<std::string>()) : std::nullopt;
        if (std::sscanf(key.c_str(), "%u", &pcr) != 1 || pcr > 23 || std::to_string(pcr) != key || !value ||
            value->size() != hash_alg_size(bank)) {
            return bad("pcrs." + key + ": not a PCR value of the bank");
        }
        out[pcr] = std::move(*value);
    }
    return out;
}
}  // namespace

Result<Bytes> tpm_object_name(ByteView public_blob) {
    TPM2B_PUBLIC pub{};
    size_t off = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(public_blob.data(), public_blob.size(), &off, &pub) != 0 || off != public_blob.size()) {
        return fail(ErrorCode::InvalidInput, "not a TPM2B_PUBLIC");
    }
    if (pub.publicArea.nameAlg != TPM2_ALG_SHA256) return fail(ErrorCode::InvalidInput, "object name algorithm is not sha256");
    Bytes area(sizeof(TPMT_PUBLIC));
    size_t len = 0;
    if (Tss2_MU_TPMT_PUBLIC_Marshal(&pub.publicArea, area.data(), area.size(), &len) != 0) {
        return fail(ErrorCode::Internal, "marshaling TPMT_PUBLIC");
    }
    area.resize(len);
    auto digest = hash_bytes(HashAlg::Sha256, area);
    if (!digest) return digest;
    Bytes name{0x00, 0x0B};
    name.insert(name.end(), digest->begin(), digest->end());
    return name;
}

Result<Bytes> rsa_public_key_to_tpm(std::string_view pem) {
    auto key = read_rsa(pem.data(), pem.size(), false);
    if (!key) return std::unexpected(key.error());
    return tpm_public_of(key->get());
}

Result<Bytes> signed_policy_digest(ByteView approved_policy) { return hash_bytes(HashAlg::Sha256, approved_policy); }

Result<PolicySignature> sign_policy(const SecretBuffer& private_pem, HashAlg bank, const PcrBranch& values) {
    auto key = read_rsa(private_pem.secret_bytes(), private_pem.size(), true);
    if (!key) return std::unexpected(key.error());
    auto pub = tpm_public_of(key->get());
    if (!pub) return std::unexpected(pub.error());
    PolicySignature s;
    s.bank = bank;
    s.values = values;
    auto name = tpm_object_name(*pub);
    if (!name) return std::unexpected(name.error());
    s.key_name = std::move(*name);
    auto approved = branch_policy(bank, values);
    if (!approved) return std::unexpected(approved.error());
    // PKCS#1 v1.5 over SHA-256(approved || policyRef): the TPM verifies that digest.
    ossl::MdCtx md(EVP_MD_CTX_new());
    std::size_t len = 0;
    if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key->get()) != 1 ||
        EVP_DigestSign(md.get(), nullptr, &len, approved->data(), approved->size()) != 1) {
        return fail(ErrorCode::Internal, "EVP_DigestSign failed");
    }
    s.signature.resize(len);
    if (EVP_DigestSign(md.get(), s.signature.data(), &len, approved->data(), approved->size()) != 1) {
        return fail(ErrorCode::Internal, "EVP_DigestSign failed");
    }
    s.signature.resize(len);
    return s;
}

Result<PolicySignature> policy_signature_from_json(std::string_view text) {
    const json doc = json::parse(text, nullptr, false);
    if (!doc.is_object()) return bad("not a JSON object");
    for (const auto& [key, value] : doc.items()) {
        static const std::set<std::string> known = {"type", "version", "pcr_bank", "pcrs", "key_name", "signature"};
        if (!known.contains(key)) return bad(key + ": unknown field");
    }
    if (!doc.contains("type") || doc["type"] != kPolicySignatureType) return bad("type: not \"" + std::string(kPolicySignatureType) + "\"");
    if (!doc.contains("version") || doc["version"] != 1) return bad("version: unsupported (this build reads version 1)");
    PolicySignature s;
    auto bank = doc.contains("pcr_bank") && doc["pcr_bank"].is_string() ? hash_alg_from_name(doc["pcr_bank"].get<std::string>())
                                                                        : std::nullopt;
    if (!bank || (*bank != HashAlg::Sha256 && *bank != HashAlg::Sha384)) return bad("pcr_bank: must be sha256 or sha384");
    s.bank = *bank;
    auto values = branch_from(doc.contains("pcrs") ? doc["pcrs"] : json(), s.bank);
    if (!values) return std::unexpected(values.error());
    s.values = std::move(*values);
    auto name = doc.contains("key_name") && doc["key_name"].is_string() ? from_hex(doc["key_name"].get<std::string>())
                                                                        : std::nullopt;
    if (!name || name->size() != 34) return bad("key_name: not hex of 34 bytes");
    s.key_name = std::move(*name);
    auto sig = doc.contains("signature") && doc["signature"].is_string() ? base64_decode(doc["signature"].get<std::string>())
                                                                          : std::nullopt;
    if (!sig || sig->size() < 256 || sig->size() > 512) return bad("signature: not base64 of an RSA signature");
    s.signature = std::move(*sig);
    return s;
}

json policy_signature_to_json(const PolicySignature& s) {
    json values = json::object();
    for (const auto& [pcr, v] : s.values) values[std::to_string(pcr)] = to_hex(v);
    return json{{"type", kPolicySignatureType}, {"version", 1}, {"pcr_bank", hash_alg_name(s.bank)},
                {"pcrs", values}, {"key_name", to_hex(s.key_name)}, {"signature", base64_encode(s.signature)}};
}

}  // namespace cvmunlock
