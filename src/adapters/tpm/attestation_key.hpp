// The vTPM's attestation key (Azure: RSA-2048 restricted signing, RSASSA
// SHA-256, persistent at 0x81000003, empty auth): its public area and
// TPM2_Certify (TPM 2.0 Part 3, 18.2) of another loaded object over a nonce.
#pragma once

#include <cstdint>

#include "cvmunlock/bytes.hpp"
#include "srk.hpp"
#include "tpm_context.hpp"

namespace cvmunlock::tpm {

// The key at a persistent handle and its marshaled TPM2B_PUBLIC (one
// TPM2_ReadPublic through SAPI: no ESAPI handle, which would read it again
// and hash its name in a library context of its own). NotFound when nothing
// is persistent there.
struct PersistentKey {
    TPM2_HANDLE handle = 0;
    Bytes public_blob;
};
Result<PersistentKey> open_persistent_key(TpmContext& tpm, TPM2_HANDLE persistent);

// Its public_blob alone.
Result<Bytes> read_persistent_public(TpmContext& tpm, TPM2_HANDLE persistent);

struct Certification {
    Bytes attest;     // TPMS_ATTEST bytes (contents of the TPM2B_ATTEST), what was signed
    Bytes signature;  // marshaled TPMT_SIGNATURE
};

// TPM2_Certify of `object` (admin role, empty password) signed by `ak` (user
// role, empty password) with the AK's own scheme (RSASSA SHA-256 when the key
// has none), qualifyingData = `nonce` (at most 64 bytes). The AK is not read
// again: its scheme comes from the public area open_persistent_key read.
// `object` is a TPM handle (transient or persistent); passwords only, so SAPI suffices.
Result<Certification> certify_with_ak(TpmContext& tpm, const PersistentKey& ak, TPM2_HANDLE object, ByteView nonce);

}  // namespace cvmunlock::tpm
