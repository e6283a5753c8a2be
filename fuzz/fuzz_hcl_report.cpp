// libFuzzer target for the Azure HCL report parser (parse_hcl_report) and the
// runtime-claims readers: the report is read from a vTPM NV index the host
// could have written, so anything malformed must be refused without crashing,
// and what is accepted must write back to an equal report.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "cvmunlock/hcl_report.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cvmunlock;
    using fuzz::require;
    if (size > fuzz::kMaxInputSize) return fuzz::kRejectInput;
    const ByteView input(data, size);
    auto report = hcl::parse_hcl_report(input);
    if (!report) {
        require(report.error().code == ErrorCode::InvalidInput, "HCL report rejected other than as invalid input");
        return 0;
    }
    require(hcl::looks_like_hcl(input), "accepted a report without the HCLA signature");
    const Bytes written = hcl::serialize_hcl_report(*report);
    // The serializer drops only the NV padding after the variable data.
    const bool prefix = written.size() <= size && std::equal(written.begin(), written.end(), input.begin());
    require(prefix, "serialize(parse(x)) is not a prefix of x");
    const auto again = hcl::parse_hcl_report(written);
    require(again.has_value(), "a written HCL report does not read back", again ? "" : again.error().message);
    require(hcl::serialize_hcl_report(*again) == written, "HCL report round trip changed it");
    require(again->runtime_json == report->runtime_json, "runtime claims changed in the round trip");
    const auto bound = hcl::check_runtime_hash(*report);
    require(bound || bound.error().code == ErrorCode::Tampered, "runtime hash check failed other than as tampered",
            bound ? "" : bound.error().message);
    const auto ak = hcl::ak_public_from_runtime(report->runtime_json);
    require(ak || ak.error().code == ErrorCode::InvalidInput, "AK lookup failed other than as invalid input");
    if (ak) require(!ak->modulus.empty() && !ak->exponent.empty(), "accepted an empty AK modulus or exponent");
    return 0;
}
