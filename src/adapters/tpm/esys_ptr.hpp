// Owner of an ESAPI output: wiped (it may hold key material) and Esys_Free'd.
#pragma once

#include <tss2/tss2_esys.h>

#include <memory>

#include "cvmunlock/secret.hpp"

namespace cvmunlock::tpm {

template <typename T>
struct EsysFree {
    void operator()(T* p) const noexcept {
        if (p != nullptr) wipe(p, sizeof(T));
        Esys_Free(p);
    }
};
template <typename T>
using EsysPtr = std::unique_ptr<T, EsysFree<T>>;

}  // namespace cvmunlock::tpm
