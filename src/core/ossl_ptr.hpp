// One RAII family for OpenSSL objects (STYLE.md): unique_ptr with the
// object's own free function.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include <memory>

#include "cvmunlock/hash.hpp"

namespace cvmunlock {
// OpenSSL's digest for a TPM hash algorithm (hash.cpp), nullptr if none.
const EVP_MD* evp_md_for(HashAlg alg) noexcept;
}  // namespace cvmunlock

namespace cvmunlock::ossl {

template <auto Fn>
struct Free {
    template <typename T>
    void operator()(T* p) const noexcept {
        Fn(p);
    }
};
using Pkey = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Free<EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Free<EVP_MD_CTX_free>>;
using Bn = std::unique_ptr<BIGNUM, Free<BN_free>>;
using Bio = std::unique_ptr<BIO, Free<BIO_free>>;
using X509Ptr = std::unique_ptr<X509, Free<X509_free>>;
using Pkcs7 = std::unique_ptr<PKCS7, Free<PKCS7_free>>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, Free<EVP_CIPHER_CTX_free>>;

}  // namespace cvmunlock::ossl
