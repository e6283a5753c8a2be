// The vTPM's attestation key (Azure: RSA-2048 restricted signing, RSASSA
// SHA-256, persistent at 0x81000003, empty auth): its public area and
// TPM2_Certify (TPM 2.0 Part 3, 18.2) of another loaded object over a nonce.
#pragma once

#include <cstdint>

#include "cvmunlock/bytes.hpp"
#include "srk.hpp"
#include "tpm_context.hpp"

namespace cvmunlock::tpm {

// Marshaled TPM2B_PUBLIC of the object at a persistent handle (TPM2_ReadPublic).
// NotFound when nothing is persistent there.
Result<Bytes> read_persistent_public(TpmContext& tpm, TPM2_HANDLE persistent);

struct Certification {
    Bytes attest;     // TPMS_ATTEST bytes (contents of the TPM2B_ATTEST), what was signed
    Bytes signature;  // marshaled TPMT_SIGNATURE
};

// TPM2_Certify of `object` (admin role, empty password) signed by the key at
// `ak_persistent` (user role, empty password) with the AK's own scheme
// (RSASSA SHA-256 when the key has none), qualifyingData = `nonce` (at most 64 bytes).
// `ak_public` is the AK's marshaled TPM2B_PUBLIC as read_persistent_public gave it
// (the scheme comes from it, so the AK is not read twice).
Result<Certification> certify_with_ak(TpmContext& tpm, TPM2_HANDLE ak_persistent, ByteView ak_public,
                                      const ObjectHandle& object, ByteView nonce);

}  // namespace cvmunlock::tpm
