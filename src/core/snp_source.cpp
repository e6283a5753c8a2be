#include "cvmunlock/snp_source.hpp"

#include <array>
#include <string_view>
#include <utility>

namespace cvmunlock::snp {

namespace {
// One table for both directions, so a name cannot be printed that is not parsed.
constexpr std::array<std::pair<EvidenceKind, const char*>, 5> kKindNames{{
    {EvidenceKind::Auto, "auto"},
    {EvidenceKind::SevGuest, "sev-guest"},
    {EvidenceKind::Tsm, "tsm"},
    {EvidenceKind::AzureHcl, "azure-hcl"},
    {EvidenceKind::File, "file"},
}};
}  // namespace

const char* evidence_kind_name(EvidenceKind kind) noexcept {
    for (const auto& [k, name] : kKindNames) {
        if (k == kind) return name;
    }
    return "unknown";
}

std::optional<EvidenceKind> evidence_kind_from_name(const std::string& name) noexcept {
    for (const auto& [k, kind_name] : kKindNames) {
        if (name == std::string_view(kind_name)) return k;
    }
    return std::nullopt;
}

}  // namespace cvmunlock::snp
