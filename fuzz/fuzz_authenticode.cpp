// libFuzzer target for the PE image hash (authenticode_digest) and the signers
// of its certificate table (authenticode_signers): `predict` reads the kernel,
// shim and grub from /boot and the ESP, which the host can write, so anything
// malformed must be refused as invalid input, or yield no signer, without crashing.
#include <cstddef>
#include <cstdint>

#include "cvmunlock/authenticode.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cvmunlock;
    using fuzz::require;
    if (size > fuzz::kMaxInputSize) return fuzz::kRejectInput;
    const ByteView input(data, size);
    for (const Bytes& signer : authenticode_signers(input)) require(!signer.empty(), "an empty signer certificate");
    auto digest = authenticode_digest(input, HashAlg::Sha256);
    if (!digest) {
        require(digest.error().code == ErrorCode::InvalidInput, "PE image rejected other than as invalid input");
        return 0;
    }
    require(digest->size() == 32, "a sha256 image hash that is not 32 bytes");
    // Whether an image is acceptable does not depend on the bank. (Signing-only
    // fields are not a fuzz invariant: a section's raw data may cover them.)
    auto other = authenticode_digest(input, HashAlg::Sha384);
    require(other.has_value() && other->size() == 48, "an image hashed in sha256 but not in sha384");
    return 0;
}
