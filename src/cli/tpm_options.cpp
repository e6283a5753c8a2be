#include "tpm_options.hpp"

#include <CLI/CLI.hpp>

namespace cvmunlock::cli {

void add_tpm_options(CLI::App* app, TpmOptions& o) {
    app->add_option("--tpm", o.tcti, "TCTI (default $CVMUNLOCK_TCTI or device:/dev/tpmrm0)");
    add_tpm_limit_options(app, o);
}

void add_tpm_limit_options(CLI::App* app, TpmOptions& o) {
    app->add_option("--tpm-timeout", o.timeout,
                    "Give up when the vTPM took this long in all (default 30s; cvmunlock.conf TimeoutSec=, "
                    "kernel cvmunlock.tpm_timeout=)");
    app->add_option("--tpm-command-timeout", o.command_timeout,
                    "Give up when one TPM command takes this long (default 10s; cvmunlock.conf CommandTimeoutSec=, "
                    "kernel cvmunlock.tpm_command_timeout=)");
}

Result<engine::TpmTarget> tpm_target(const TpmOptions& o) {
    Settings overrides;
    for (auto [text, field, name] : {std::tuple{&o.timeout, &overrides.tpm_timeout, "--tpm-timeout"},
                                     std::tuple{&o.command_timeout, &overrides.tpm_command_timeout, "--tpm-command-timeout"}}) {
        if (text->empty()) continue;
        auto v = parse_timespan(*text);
        if (!v) return std::unexpected(v.error().context(name));
        *field = *v;
    }
    return engine::tpm_target(o.tcti, overrides);
}

void add_eventlog_option(CLI::App* app, std::string& path, const std::string& help) {
    app->add_option("--eventlog", path, help)->capture_default_str();
}

void add_pcr_bank_option(CLI::App* app, std::string& bank, const std::string& help) {
    app->add_option("--pcr-bank", bank, help)->capture_default_str();
}

}  // namespace cvmunlock::cli
