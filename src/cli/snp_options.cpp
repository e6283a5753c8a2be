#include "snp_options.hpp"

#include <charconv>

namespace cvmunlock::cli {

namespace {
std::unexpected<Error> usage(const std::string& option, const std::string& what) {
    return fail(ErrorCode::InvalidInput, option + ": " + what);
}

template <std::size_t N>
Result<std::optional<std::array<std::uint8_t, N>>> hex_option(const std::string& option, const std::string& text) {
    if (text.empty()) return std::optional<std::array<std::uint8_t, N>>();
    auto b = from_hex(text);
    if (!b || b->size() != N) return usage(option, "\"" + text + "\" is not hex of " + std::to_string(N) + " bytes");
    std::array<std::uint8_t, N> out{};
    std::copy(b->begin(), b->end(), out.begin());
    return std::optional<std::array<std::uint8_t, N>>(out);
}

Result<std::optional<bool>> on_off(const std::string& option, const std::string& text) {
    if (text.empty()) return std::optional<bool>();
    if (text == "on" || text == "yes" || text == "1") return std::optional<bool>(true);
    if (text == "off" || text == "no" || text == "0") return std::optional<bool>(false);
    return usage(option, "\"" + text + "\" is not on or off");
}

// "bl=2,tee=0,snp=5,ucode=68" (fmc= on Turin); unnamed components are 0.
Result<std::optional<snp::Tcb>> tcb_option(const std::string& text) {
    if (text.empty()) return std::optional<snp::Tcb>();
    snp::Tcb tcb;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t end = std::min(text.find(',', pos), text.size());
        const std::string part = text.substr(pos, end - pos);
        const auto eq = part.find('=');
        unsigned value = 0;
        const std::string num = eq == std::string::npos ? "" : part.substr(eq + 1);
        auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), value);
        if (eq == std::string::npos || ec != std::errc() || p != num.data() + num.size() || value > 255) {
            return usage("--min-tcb", "\"" + part + "\" is not NAME=0..255 (bl, tee, snp, ucode, fmc)");
        }
        const std::string name = part.substr(0, eq);
        auto v = static_cast<std::uint8_t>(value);
        if (name == "bl") tcb.bootloader = v;
        else if (name == "tee") tcb.tee = v;
        else if (name == "snp") tcb.snp = v;
        else if (name == "ucode") tcb.microcode = v;
        else if (name == "fmc") tcb.fmc = v;
        else return usage("--min-tcb", "unknown component \"" + name + "\" (bl, tee, snp, ucode, fmc)");
        pos = end + 1;
    }
    return std::optional<snp::Tcb>(tcb);
}
}  // namespace

void add_snp_policy_options(CLI::App* cmd, SnpPolicyOptions& o) {
    const char* group = "SEV-SNP policy (unset: not checked)";
    cmd->add_flag("--allow-debug", o.allow_debug, "Accept a guest whose POLICY allows debugging (refused by default)")->group(group);
    cmd->add_flag("--allow-migration-agent", o.allow_migration_agent, "Accept a guest with a migration agent (refused by default)")->group(group);
    cmd->add_option("--min-tcb", o.min_tcb, "Minimum REPORTED_TCB, e.g. bl=3,tee=0,snp=8,ucode=115 (fmc= on Turin)")->group(group);
    cmd->add_option("--measurement", o.measurements, "Allowed launch MEASUREMENT, 96 hex digits (repeatable)")->group(group);
    cmd->add_option("--max-vmpl", o.max_vmpl, "Highest VMPL the report may come from (0..3)")->check(CLI::Range(0, 3))->group(group);
    cmd->add_option("--host-data", o.host_data, "Required HOST_DATA, 64 hex digits")->group(group);
    cmd->add_option("--id-key-digest", o.id_key_digest, "Required ID_KEY_DIGEST, 96 hex digits")->group(group);
    cmd->add_option("--author-key-digest", o.author_key_digest, "Required AUTHOR_KEY_DIGEST, 96 hex digits")->group(group);
    cmd->add_option("--smt", o.smt, "Required SMT state of the platform: on or off")->group(group);
    cmd->add_option("--single-socket", o.single_socket, "Required single-socket guest policy: on or off")->group(group);
}

void add_snp_anchor_option(CLI::App* cmd, std::vector<std::string>& dirs, const std::string& name) {
    cmd->add_option(name, dirs,
                    std::string("Extra directory of trusted AMD ARKs (PEM/DER), besides the built-in AMD roots, ") +
                        engine::kShippedAnchorDir + " and " + engine::kExtraAnchorDir + " (repeatable)");
}

Result<snp::Policy> snp_policy_from_options(const SnpPolicyOptions& o) {
    snp::Policy p;
    p.allow_debug = o.allow_debug;
    p.allow_migration_agent = o.allow_migration_agent;
    auto tcb = tcb_option(o.min_tcb);
    if (!tcb) return std::unexpected(tcb.error());
    p.min_tcb = *tcb;
    if (o.measurements.size() > snp::kMaxMeasurements) {
        return usage("--measurement", "at most " + std::to_string(snp::kMaxMeasurements) + " launch measurements");
    }
    for (const auto& m : o.measurements) {
        auto a = hex_option<48>("--measurement", m);
        if (!a) return std::unexpected(a.error());
        if (*a) p.measurements.push_back(**a);
    }
    p.max_vmpl = o.max_vmpl;
    auto host = hex_option<32>("--host-data", o.host_data);
    auto id = hex_option<48>("--id-key-digest", o.id_key_digest);
    auto author = hex_option<48>("--author-key-digest", o.author_key_digest);
    auto smt = on_off("--smt", o.smt);
    auto single = on_off("--single-socket", o.single_socket);
    if (!host) return std::unexpected(host.error());
    if (!id) return std::unexpected(id.error());
    if (!author) return std::unexpected(author.error());
    if (!smt) return std::unexpected(smt.error());
    if (!single) return std::unexpected(single.error());
    p.host_data = *host;
    p.id_key_digest = *id;
    p.author_key_digest = *author;
    p.smt = *smt;
    p.single_socket = *single;
    return p;
}

engine::SnpGateConfig snp_gate_config(const std::vector<std::string>& extra_anchor_dirs) {
    engine::SnpGateConfig config;
    config.anchor_dirs.insert(config.anchor_dirs.end(), extra_anchor_dirs.begin(), extra_anchor_dirs.end());
    return config;
}

}  // namespace cvmunlock::cli
