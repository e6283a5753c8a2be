// The PE/COFF image hash that UEFI firmware and shim measure into PCR 4 for
// each EFI application they load (EV_EFI_BOOT_SERVICES_APPLICATION): the
// Authenticode digest (Microsoft PE/COFF specification, "Calculating the PE
// Image Hash"): the headers without the checksum and the certificate table's
// directory entry, the sections in file order, then the bytes after them up to
// the certificate table. A signature does not change it.
#pragma once

#include <vector>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"
#include "cvmunlock/hash.hpp"

namespace cvmunlock {

// The image hash of a PE32 or PE32+ file, in `alg`. InvalidInput, naming the
// field and its offset, for anything that is not a well-formed PE image.
Result<Bytes> authenticode_digest(ByteView image, HashAlg alg);

// The certificates that signed the image, DER-encoded: of each
// WIN_CERT_TYPE_PKCS_SIGNED_DATA entry of its certificate table, the signer
// certificates of the outer PKCS#7 SignedData (nested signatures are not
// looked into). Empty for an unsigned image, or a table that does not parse.
std::vector<Bytes> authenticode_signers(ByteView image);

}  // namespace cvmunlock
