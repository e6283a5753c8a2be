// The trust anchors of SEV-SNP verification: AMD root keys (ARKs) and, as a
// convenience, their ASK/ASVK. Only an ARK is an anchor; an intermediate added
// here is verified against an ARK on every use like any supplied certificate.
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>

#include "cvmunlock/snp_verify.hpp"

namespace cvmunlock::snp {

namespace {

bool same_certificate(const Certificate& a, const Certificate& b) { return X509_cmp(a.get(), b.get()) == 0; }

bool contains(const std::vector<Certificate>& list, const Certificate& cert) {
    return std::any_of(list.begin(), list.end(), [&](const Certificate& c) { return same_certificate(c, cert); });
}

// An ARK signs itself (KDS spec, "Certificate Chain"): issuer == subject and
// the signature verifies with its own key.
bool self_signed(const Certificate& cert) {
    EVP_PKEY* key = X509_get0_pubkey(cert.get());
    return key != nullptr && X509_check_issued(cert.get(), cert.get()) == X509_V_OK &&
           X509_verify(cert.get(), key) == 1;
}

std::string lowercase(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

}  // namespace

Result<void> TrustStore::add(ByteView data, const std::string& what) { return add_loaded(data, what); }

void TrustStore::add_deferred(ByteView data, std::string what, std::string product) {
    deferred_.push_back({data, std::move(what), lowercase(std::move(product))});
}

Result<void> TrustStore::load_for(const Certificate& child) const {
    const std::string issuer = lowercase(child.issuer_cn());
    for (auto it = deferred_.begin(); it != deferred_.end();) {
        // No product: loaded for the first chain, never left unread.
        if (!it->product.empty() && issuer.find(it->product) == std::string::npos) {
            ++it;
            continue;
        }
        const Deferred source = *it;
        it = deferred_.erase(it);
        if (auto r = add_loaded(source.data, source.what); !r) return r;
    }
    return {};
}

Result<void> TrustStore::add_loaded(ByteView data, const std::string& what) const {
    auto certs = Certificate::load_all(data, what);
    if (!certs) return std::unexpected(certs.error());
    std::vector<Certificate> arks, intermediates;
    for (std::size_t i = 0; i < certs->size(); ++i) {
        const Certificate& cert = (*certs)[i];
        const std::string where = what + ": certificate " + std::to_string(i + 1) + " (" + cert.subject_cn() + ")";
        switch (cert.role()) {
            case CertRole::Ark:
                if (!self_signed(cert)) return fail(ErrorCode::Tampered, where + " is not self-signed");
                arks.push_back(cert);
                break;
            case CertRole::Ask:
            case CertRole::Asvk: intermediates.push_back(cert); break;
            default:
                return fail(ErrorCode::InvalidInput,
                            where + " is a " + cert_role_name(cert.role()) + ", not an ARK, ASK or ASVK");
        }
    }
    // All or nothing: a file with one bad certificate adds none.
    for (const Certificate& c : arks) {
        if (!contains(arks_, c)) arks_.push_back(c);
    }
    for (const Certificate& c : intermediates) {
        if (!contains(intermediates_, c)) intermediates_.push_back(c);
    }
    return {};
}

}  // namespace cvmunlock::snp
