#include "settings.hpp"

#include "file/read_file.hpp"
#include "tpm/tpm_context.hpp"

namespace cvmunlock::engine {

namespace {
// A missing source sets nothing; an unreadable or malformed one is an error.
Result<Settings> from_file(const std::string& path, bool cmdline) {
    if (path.empty()) return Settings{};
    auto bytes = file::read_all(path, 1u << 20);
    if (!bytes) {
        if (bytes.error().code == ErrorCode::Unavailable) return Settings{};
        return std::unexpected(bytes.error());
    }
    const std::string_view text(reinterpret_cast<const char*>(bytes->data()), bytes->size());
    return cmdline ? parse_kernel_cmdline(text) : parse_settings_file(text, path);
}
}  // namespace

Result<tpm::TpmLimits> tpm_limits(const Settings& overrides, const SettingsSources& sources) {
    Settings s;
    for (auto [path, cmdline] : {std::pair{sources.config_file, false}, std::pair{sources.kernel_cmdline, true}}) {
        auto layer = from_file(path, cmdline);
        if (!layer) return std::unexpected(layer.error());
        s.merge(*layer);
    }
    s.merge(overrides);
    tpm::TpmLimits limits;
    if (s.tpm_command_timeout) limits.command = *s.tpm_command_timeout;
    if (s.tpm_timeout) limits.total = *s.tpm_timeout;
    return limits;
}

Result<TpmTarget> tpm_target(const std::string& tcti_option, const Settings& overrides,
                             const SettingsSources& sources) {
    auto limits = tpm_limits(overrides, sources);
    if (!limits) return std::unexpected(limits.error());
    return TpmTarget{tpm::resolve_tcti(tcti_option), *limits};
}

}  // namespace cvmunlock::engine
