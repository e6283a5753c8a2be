// The check every fresh-report source makes on what the firmware returned:
// it parses as an ATTESTATION_REPORT, carries the caller's REPORT_DATA (so it
// answers this request, not an earlier one) and the VMPL that was asked for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cvmunlock/bytes.hpp"
#include "cvmunlock/error.hpp"
#include "cvmunlock/snp_report.hpp"
#include "cvmunlock/snp_source.hpp"

namespace cvmunlock::snp {

// InvalidInput when `raw` is not a well-formed report; Tampered (naming both
// values) when REPORT_DATA differs from `report_data` or VMPL from `vmpl`.
Result<Report> check_fresh_report(ByteView raw, const ReportData& report_data, std::optional<std::uint32_t> vmpl,
                                  const std::string& origin);

}  // namespace cvmunlock::snp
