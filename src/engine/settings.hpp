// Where the TPM time limits come from, in one place for every front end:
// built-in defaults (10 s per command, 30 s in all), then
// /etc/cvmunlock/cvmunlock.conf, then the kernel command line, then the
// command-line options of the run.
#pragma once

#include <string>

#include "cvmunlock/config.hpp"
#include "tpm/guarded_tcti.hpp"

namespace cvmunlock::engine {

inline constexpr const char* kConfigFile = "/etc/cvmunlock/cvmunlock.conf";
inline constexpr const char* kKernelCmdline = "/proc/cmdline";

struct SettingsSources {
    std::string config_file = kConfigFile;     // missing: nothing set
    std::string kernel_cmdline = kKernelCmdline;  // missing: nothing set
};

// InvalidInput naming the file and line (or parameter) of a bad setting.
Result<tpm::TpmLimits> tpm_limits(const Settings& overrides, const SettingsSources& sources = {});

// The vTPM a run talks to and its time limits.
struct TpmTarget {
    std::string tcti;  // the option, else $CVMUNLOCK_TCTI, else device:/dev/tpmrm0
    tpm::TpmLimits limits;
};
Result<TpmTarget> tpm_target(const std::string& tcti_option, const Settings& overrides,
                             const SettingsSources& sources = {});

}  // namespace cvmunlock::engine
