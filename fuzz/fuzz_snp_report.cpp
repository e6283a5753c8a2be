// libFuzzer target for the SEV-SNP ATTESTATION_REPORT parser (parse_report): the
// report comes from the host-mediated guest request, so anything malformed must
// be refused without crashing, and what is accepted must serialize back to the
// exact input (the parser keeps every byte it does not require to be zero).
#include <cstddef>
#include <cstdint>

#include "cvmunlock/snp_report.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace cvmunlock;
    using fuzz::require;
    if (size > fuzz::kMaxInputSize) return fuzz::kRejectInput;
    const ByteView input(data, size);
    auto report = snp::parse_report(input);
    if (!report) {
        require(report.error().code == ErrorCode::InvalidInput, "report rejected other than as invalid input");
        return 0;
    }
    const Bytes written = snp::serialize_report(*report);
    require(Bytes(input.begin(), input.end()) == written, "serialize(parse(x)) differs from x");
    const auto again = snp::parse_report(written);
    require(again.has_value(), "a written report does not read back", again ? "" : again.error().message);
    require(snp::serialize_report(*again) == written, "report round trip changed it");
    // The derived views must not trip the sanitizers either.
    const snp::Product product = report->product();
    const snp::Tcb tcb = snp::decode_tcb(report->reported_tcb, product);
    require(snp::decode_tcb(snp::encode_tcb(tcb, product), product) == tcb, "TCB encode/decode changed it");
    (void)snp::tcb_to_string(tcb, product);
    (void)report->signing_key();
    return 0;
}
