// A test AMD-style certificate chain made at test time (like go-sev-guest's fake):
// ARK (self-signed RSA, RSASSA-PSS SHA-384) -> ASK/ASVK -> VCEK/VLEK (ECDSA P-384)
// with the AMD names and VCEK extensions, and a signer for synthesized reports.
// Nothing here is trusted by default: tests add `ark_pem()` to a TrustStore
// (or a trust directory) like an operator adds an extra anchor.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/snp_report.hpp"
#include "cvmunlock/snp_source.hpp"

namespace cvmunlock::testing {

struct TestChainOptions {
    snp::Product product = snp::Product::Milan;
    bool vlek = false;                 // ASVK + VLEK instead of ASK + VCEK (no hwID extension)
    std::uint64_t reported_tcb = 0x4405000000000002ULL;  // SPL extensions of the VCEK/VLEK
    std::array<std::uint8_t, 64> chip_id{};              // hwID (first 8 bytes on Turin); zero means "0x11.."
    // The ASK/ASVK's keyUsage: keyCertSign like AMD's; false makes it digitalSignature
    // only (an issuer that may not sign certificates, all signatures still valid).
    bool ask_may_sign_certs = true;
    // Validity of every certificate, seconds relative to now.
    long not_before = -3600;
    long not_after = 10L * 365 * 24 * 3600;
};

class TestChain {
public:
    explicit TestChain(const TestChainOptions& options = {});  // aborts the test binary on an OpenSSL failure
    ~TestChain();
    TestChain(TestChain&&) noexcept;
    TestChain& operator=(TestChain&&) noexcept;

    [[nodiscard]] const TestChainOptions& options() const noexcept;
    [[nodiscard]] Bytes ark_pem() const;
    [[nodiscard]] Bytes ask_pem() const;   // the ASK (or ASVK)
    [[nodiscard]] Bytes vcek_der() const;  // the VCEK (or VLEK)
    [[nodiscard]] Bytes vcek_pem() const;
    [[nodiscard]] Bytes chain_pem() const;  // ASK then ARK, like AMD's ask_ark_*.pem

    // A well-formed report for this chain: version 3 (5 for Turin), chip_id,
    // reported/current/committed/launch TCB from the options, signer_info naming
    // the VCEK/VLEK, policy 0x30000 (SMT allowed, reserved bit 17), VMPL 0.
    [[nodiscard]] snp::Report make_report(const snp::ReportData& report_data = {}) const;
    // Signs bytes 0x000..0x29F with the VCEK/VLEK key: fills signature_r/s
    // (little-endian) and returns the serialized 0x4A0-byte report.
    Bytes sign(snp::Report& report) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace cvmunlock::testing
