// One RAII family for OpenSSL objects (STYLE.md): unique_ptr with the
// object's own free function.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include <memory>

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

}  // namespace cvmunlock::ossl
