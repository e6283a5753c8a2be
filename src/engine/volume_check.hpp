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

// The one step after unsealing: the pin sealed with the secret (not the
// host-writable header) decides which volume key is ours, with the LUKS2 UUID
// and the token's requirements. Token version 2 pins the LUKS2 digest of the
// token's keyslot: it is checked against the header libcryptsetup loaded
// without opening the keyslot, and libcryptsetup accepts only a volume key
// that matches that digest (so the token plugin, which hands the passphrase to
// libcryptsetup, opens the keyslot once, not twice). Version 1 pins the volume
// key itself: the keyslot is opened here and its key compared.
// With `want_key` the keyslot is opened (both versions) and the volume key
// returned; without it, for version 2, an empty buffer.
Decision<SecretBuffer> bind_volume_key(luks::Volume& volume, const FoundToken& found, const SealedParts& parts,
                                       bool want_key);

}  // namespace cvmunlock::engine
