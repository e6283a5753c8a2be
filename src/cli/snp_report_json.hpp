// Decoded SEV-SNP and HCL report fields for `snp report` and `snp verify --json`.
#pragma once

#include <nlohmann/json.hpp>

#include "cvmunlock/hcl_report.hpp"
#include "cvmunlock/snp_report.hpp"

namespace cvmunlock::cli {

nlohmann::ordered_json report_to_json(const snp::Report& report);
nlohmann::ordered_json hcl_to_json(const hcl::HclReport& report);  // header, request data, runtime claims, and the SNP report
// Human-readable, one field a line.
std::string report_to_text(const snp::Report& report);

}  // namespace cvmunlock::cli
