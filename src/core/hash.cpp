#include "cvmunlock/hash.hpp"

#include <openssl/evp.h>

#include <memory>

#include "ossl_ptr.hpp"

namespace cvmunlock {

const EVP_MD* evp_md_for(HashAlg alg) noexcept {
    switch (alg) {
        case HashAlg::Sha1: return EVP_sha1();
        case HashAlg::Sha256: return EVP_sha256();
        case HashAlg::Sha384: return EVP_sha384();
        case HashAlg::Sha512: return EVP_sha512();
        case HashAlg::Sm3_256: return EVP_sm3();
    }
    return nullptr;
}

namespace {
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

}  // namespace

Result<Bytes> hash_parts(HashAlg alg, std::span<const ByteView> parts) {
    const EVP_MD* md = evp_md_for(alg);
    MdCtx ctx(EVP_MD_CTX_new());
    if (md == nullptr || !ctx) {
        return fail(ErrorCode::Internal, std::string("no OpenSSL digest for ") +
                                             std::string(hash_alg_name(alg)));
    }
    Bytes out(static_cast<std::size_t>(EVP_MD_get_size(md)));
    unsigned int len = 0;
    bool ok = EVP_DigestInit_ex(ctx.get(), md, nullptr) == 1;
    for (ByteView part : parts) ok = ok && EVP_DigestUpdate(ctx.get(), part.data(), part.size()) == 1;
    if (!ok || EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size()) {
        return fail(ErrorCode::Internal,
                    std::string("OpenSSL digest failed for ") + std::string(hash_alg_name(alg)));
    }
    return out;
}

std::optional<HashAlg> hash_alg_from_id(std::uint16_t id) noexcept {
    switch (id) {
        case 0x0004: return HashAlg::Sha1;
        case 0x000B: return HashAlg::Sha256;
        case 0x000C: return HashAlg::Sha384;
        case 0x000D: return HashAlg::Sha512;
        case 0x0012: return HashAlg::Sm3_256;
        default: return std::nullopt;
    }
}

std::string_view hash_alg_name(HashAlg alg) noexcept {
    switch (alg) {
        case HashAlg::Sha1: return "sha1";
        case HashAlg::Sha256: return "sha256";
        case HashAlg::Sha384: return "sha384";
        case HashAlg::Sha512: return "sha512";
        case HashAlg::Sm3_256: return "sm3_256";
    }
    return "unknown";
}

std::optional<HashAlg> hash_alg_from_name(std::string_view name) noexcept {
    for (HashAlg a : {HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512,
                      HashAlg::Sm3_256}) {
        if (hash_alg_name(a) == name) return a;
    }
    return std::nullopt;
}

std::size_t hash_alg_size(HashAlg alg) noexcept {
    switch (alg) {
        case HashAlg::Sha1: return 20;
        case HashAlg::Sha256: return 32;
        case HashAlg::Sha384: return 48;
        case HashAlg::Sha512: return 64;
        case HashAlg::Sm3_256: return 32;
    }
    return 0;
}

Result<Bytes> hash_bytes(HashAlg alg, ByteView data) { return hash_parts(alg, std::span<const ByteView>(&data, 1)); }

Result<Bytes> extend_digest(HashAlg alg, ByteView old_value, ByteView digest) {
    const ByteView parts[] = {old_value, digest};
    return hash_parts(alg, parts);
}

}  // namespace cvmunlock
