#include "cvmunlock/config.hpp"

#include <cmath>
#include <vector>

namespace cvmunlock {

namespace {
using std::chrono::milliseconds;
constexpr double kMaxMs = 3600.0 * 1000.0;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// systemd's time units (systemd.time(7)), in milliseconds.
std::optional<double> unit_ms(std::string_view unit) {
    struct U {
        std::string_view name;
        double ms;
    };
    static constexpr U kUnits[] = {{"ms", 1},        {"msec", 1},   {"s", 1000},        {"sec", 1000},
                                   {"second", 1000}, {"seconds", 1000}, {"m", 60000},    {"min", 60000},
                                   {"minute", 60000}, {"minutes", 60000}, {"h", 3600000}, {"hr", 3600000},
                                   {"hour", 3600000}, {"hours", 3600000}, {"", 1000}};
    for (const auto& u : kUnits) {
        if (u.name == unit) return u.ms;
    }
    return std::nullopt;
}

Result<void> set_timespan(std::optional<milliseconds>& field, std::string_view value, const std::string& where) {
    auto v = parse_timespan(value);
    if (!v) return std::unexpected(v.error().context(where));
    field = *v;
    return {};
}
}  // namespace

void Settings::merge(const Settings& over) {
    if (over.tpm_command_timeout) tpm_command_timeout = over.tpm_command_timeout;
    if (over.tpm_timeout) tpm_timeout = over.tpm_timeout;
}

Result<milliseconds> parse_timespan(std::string_view text) {
    const std::string shown(text);
    std::string_view s = trim(text);
    if (s.empty()) return fail(ErrorCode::InvalidInput, "empty time span");
    double total = 0;
    while (!s.empty()) {
        // A decimal number: digits, at most one point (by hand: libc++ 16 has no
        // floating-point from_chars, and the fuzzing build uses it).
        double value = 0, scale = 0;
        std::size_t n = 0, digits = 0;
        for (; n < s.size() && ((s[n] >= '0' && s[n] <= '9') || (s[n] == '.' && scale == 0)); ++n) {
            if (s[n] == '.') {
                scale = 1;
                continue;
            }
            ++digits;
            if (scale == 0) {
                value = value * 10 + (s[n] - '0');
            } else {
                scale /= 10;
                value += (s[n] - '0') * scale;
            }
        }
        if (digits == 0 || digits > 12) {
            return fail(ErrorCode::InvalidInput, "\"" + shown + "\" is not a time span (e.g. 10s, 500ms, 1min)");
        }
        s.remove_prefix(n);
        std::size_t u = 0;
        while (u < s.size() && s[u] >= 'a' && s[u] <= 'z') ++u;
        auto ms = unit_ms(s.substr(0, u));
        if (!ms) return fail(ErrorCode::InvalidInput, "\"" + shown + "\": unknown time unit \"" + std::string(s.substr(0, u)) + "\"");
        total += value * *ms;
        s = trim(s.substr(u));
    }
    if (!std::isfinite(total) || total < 1 || total > kMaxMs) {
        return fail(ErrorCode::InvalidInput, "\"" + shown + "\" is outside 1ms..1h");
    }
    return milliseconds(static_cast<long long>(std::llround(total)));
}

Result<Settings> parse_settings_file(std::string_view text, const std::string& origin) {
    Settings out;
    std::string section;
    std::size_t line_no = 0;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        ++line_no;
        const std::string where = origin + ":" + std::to_string(line_no);
        if (line.empty() || line.front() == '#' || line.front() == ';') continue;
        if (line.front() == '[') {
            if (line.back() != ']') return fail(ErrorCode::InvalidInput, where + ": unterminated section header");
            section = std::string(line.substr(1, line.size() - 2));
            if (section != "TPM") return fail(ErrorCode::InvalidInput, where + ": unknown section [" + section + "]");
            continue;
        }
        const auto eq = line.find('=');
        if (eq == std::string_view::npos) return fail(ErrorCode::InvalidInput, where + ": expected Key=Value");
        const std::string key(trim(line.substr(0, eq)));
        const std::string_view value = trim(line.substr(eq + 1));
        if (section.empty()) return fail(ErrorCode::InvalidInput, where + ": " + key + "= outside a section");
        Result<void> r;
        if (key == "CommandTimeoutSec") {
            r = set_timespan(out.tpm_command_timeout, value, where + ": " + key);
        } else if (key == "TimeoutSec") {
            r = set_timespan(out.tpm_timeout, value, where + ": " + key);
        } else {
            return fail(ErrorCode::InvalidInput, where + ": unknown key " + key + "= in [" + section + "]");
        }
        if (!r) return std::unexpected(r.error());
    }
    return out;
}

Result<Settings> parse_kernel_cmdline(std::string_view cmdline) {
    Settings out;
    std::size_t i = 0;
    while (i < cmdline.size()) {
        while (i < cmdline.size() && (cmdline[i] == ' ' || cmdline[i] == '\t' || cmdline[i] == '\n')) ++i;
        std::string word;
        bool quoted = false;
        for (; i < cmdline.size() && (quoted || (cmdline[i] != ' ' && cmdline[i] != '\t' && cmdline[i] != '\n')); ++i) {
            if (cmdline[i] == '"') {
                quoted = !quoted;
            } else {
                word.push_back(cmdline[i]);
            }
        }
        std::string_view w = word;
        if (w.starts_with("rd.")) w.remove_prefix(3);
        const auto eq = w.find('=');
        const std::string_view key = w.substr(0, eq);
        const std::string_view value = eq == std::string_view::npos ? std::string_view() : w.substr(eq + 1);
        Result<void> r;
        if (key == "cvmunlock.tpm_command_timeout") {
            r = set_timespan(out.tpm_command_timeout, value, "kernel command line: " + std::string(key));
        } else if (key == "cvmunlock.tpm_timeout") {
            r = set_timespan(out.tpm_timeout, value, "kernel command line: " + std::string(key));
        }
        if (!r) return std::unexpected(r.error());
    }
    return out;
}

}  // namespace cvmunlock
