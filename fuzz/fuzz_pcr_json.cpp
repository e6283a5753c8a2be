// libFuzzer target for the reference-PCR JSON reader (pcr_values_from_json) and
// its writer round trip.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cvmunlock/pcr_json.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cvmunlock;
    using fuzz::require;
    if (size > fuzz::kMaxInputSize) return fuzz::kRejectInput;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto values = pcr_values_from_json(text);
    if (!values) {
        require(values.error().code == ErrorCode::InvalidInput, "read failed other than on invalid input",
                values.error().message);
        return 0;
    }
    for (const auto& [alg, bank] : *values) {
        for (const auto& [pcr, value] : bank) {
            require(pcr < kPcrCount, "accepted a PCR index outside 0..23", std::to_string(pcr));
            require(value.size() == hash_alg_size(alg), "accepted a value of the wrong size");
        }
    }
    const std::string written = pcr_values_to_json(*values).dump();
    auto again = pcr_values_from_json(written);
    require(again.has_value(), "written PCR JSON does not read back", again ? "" : again.error().message);
    require(*again == *values, "PCR JSON round trip changed the values");
    return 0;
}
