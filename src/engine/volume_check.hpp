// The two checks around an unseal that every boot path shares (token plugin,
// `cvmunlock unlock` from the initramfs-tools local-top script, the CLI):
// before, that the LUKS2 header is acceptable and that libcryptsetup loaded
// exactly the header we checked; after, that the unsealed secret opens the
// token's keyslot to the volume key sealed with it.
#pragma once

#include <vector>

#include "cvmunlock/luks2_header.hpp"
#include "luks/volume.hpp"
#include "reason.hpp"
#include "unseal.hpp"

namespace cvmunlock::engine {

// `raw` is both header copies as read from the disk (at least 2 * hdr_size
// bytes); `loaded` is what libcryptsetup loaded for the activation. The raw
// header is parsed strictly (parse_luks2_header: no duplicate keys, no control
// characters in keys, both copies identical) and validated for every cvmunlock
// token's keyslot; libcryptsetup's copy (its JSON and UUID) must then equal it,
// so a parser differential or a disk that answered two reads differently is
// refused (HeaderAltered). Returns the cvmunlock tokens; NoToken when none.
Decision<std::vector<FoundToken>> checked_header(ByteView raw, luks::Volume& loaded, const Luks2Policy& policy);

// The one step after unsealing: the token's keyslot must open with the
// unsealed passphrase, and the volume key it yields, with the LUKS2 UUID and
// the token's requirements, must match the pin sealed with the secret (the
// host-writable header does not decide which volume key is ours). Returns the
// volume key.
Decision<SecretBuffer> bind_volume_key(luks::Volume& volume, const FoundToken& found, const SealedParts& parts);

}  // namespace cvmunlock::engine
