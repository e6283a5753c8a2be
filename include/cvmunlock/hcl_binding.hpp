// The Azure binding between the SNP report and the vTPM, the pure half: the AK
// named in the runtime claims (HCLAkPub) must be the key the vTPM holds at
// 0x81000003, and that key must have certified a fresh nonce just now
// (TPM 2.0 Part 3, 18.2 TPM2_Certify). The TPM I/O is in
// src/adapters/tpm/azure_hcl_source.hpp (check_azure_binding).
#pragma once

#include <cstddef>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"
#include "cvmunlock/hcl_report.hpp"

namespace cvmunlock::hcl {

// Smallest AK modulus accepted (Azure's AK is RSA-2048).
inline constexpr std::size_t kMinAkModulusBits = 2048;

// `tpm2b_public_marshaled`: the key's TPM2B_PUBLIC (TPM 2.0 Part 2, 12.2.5) as
// returned by TPM2_ReadPublic. Ok when it is an RSA key with `ak`'s modulus and
// exponent (an exponent of 0 in TPMS_RSA_PARMS means 65537) and an attestation
// key: sign, restricted and fixedTPM set, decrypt clear. InvalidInput when the
// blob is malformed, PolicyRefused naming the field that differs.
Result<void> ak_matches(ByteView tpm2b_public_marshaled, const RsaPublic& ak);

// `attest_marshaled`: the TPMS_ATTEST bytes (the contents of TPM2B_ATTEST, Part 2
// 10.12.12) that TPM2_Certify returned; `signature_marshaled`: its TPMT_SIGNATURE
// (Part 2, 11.3.4). Ok when the signature over the attest bytes verifies with
// `ak` (RSASSA PKCS#1 v1.5 or RSAPSS, SHA-256/384/512), magic is
// TPM_GENERATED_VALUE, type is TPM_ST_ATTEST_CERTIFY, extraData equals `nonce`
// and the certified name equals `expected_certified_name`.
// Tampered for a bad signature or magic, PolicyRefused for a wrong type, nonce
// or name, InvalidInput for malformed input; messages start with "binding: ".
Result<void> verify_certify(ByteView attest_marshaled, ByteView signature_marshaled, const RsaPublic& ak,
                            ByteView nonce, ByteView expected_certified_name);

}  // namespace cvmunlock::hcl
