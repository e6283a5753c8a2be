#include "fresh_report.hpp"

#include <algorithm>

namespace cvmunlock::snp {

Result<Report> check_fresh_report(ByteView raw, const ReportData& report_data, std::optional<std::uint32_t> vmpl,
                                  const std::string& origin) {
    auto report = parse_report(raw);
    if (!report) return std::unexpected(report.error().context(origin + ": report"));
    if (!std::equal(report->report_data.begin(), report->report_data.end(), report_data.begin())) {
        return fail(ErrorCode::Tampered, origin + ": REPORT_DATA (offset 0x50) of the returned report is " +
                                             to_hex(report->report_data) + ", not the requested " +
                                             to_hex(report_data) + ": the report does not answer this request");
    }
    if (vmpl && report->vmpl != *vmpl) {
        return fail(ErrorCode::Tampered, origin + ": VMPL (offset 0x30) of the returned report is " +
                                             std::to_string(report->vmpl) + ", not the requested " +
                                             std::to_string(*vmpl));
    }
    return report;
}

}  // namespace cvmunlock::snp
