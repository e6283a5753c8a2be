// libFuzzer target for the LUKS2 header parser, serializer and validator: the
// host writes these bytes. Parse; validate what parses; serialize and re-parse.
#include <cstddef>
#include <cstdint>

#include "cvmunlock/luks2_header.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cvmunlock;
    using fuzz::require;
    if (size > fuzz::kMaxInputSize) return fuzz::kRejectInput;
    auto header = parse_luks2_header(ByteView(data, size));
    if (!header) return 0;
    (void)validate_luks2_header(*header, Luks2Policy{}, std::nullopt);
    (void)validate_luks2_metadata(header->active().metadata, Luks2Policy{}, 0);
    auto bytes = serialize_luks2_header(*header);
    if (!bytes) return 0;  // e.g. metadata that no longer fits its JSON area
    auto again = parse_luks2_header(*bytes);
    require(again.has_value(), "a serialized header does not parse", again ? "" : again.error().message);
    require(again->active().metadata == header->active().metadata, "header round trip changed the metadata");
    return 0;
}
