// Replay of an event log per bank, event-data digest checks, and comparison
// with reference PCR values.
#include "cvmunlock/replay.hpp"

#include <string>

#include "cvmunlock/uefi_variable.hpp"

namespace cvmunlock {

namespace {
// PC Client PTP: PCRs 17-22 are the D-RTM PCRs, reset to all ones at TPM2_Startup.
constexpr std::uint32_t kFirstDrtmPcr = 17;
constexpr std::uint32_t kLastDrtmPcr = 22;
// PCRs 0-7 hold the firmware's (SRTM) measurements.
constexpr std::uint32_t kFirmwarePcrs = 8;
}  // namespace

Bytes pcr_initial_value(HashAlg alg, std::uint32_t pcr, std::optional<std::uint8_t> locality) {
    const std::size_t size = hash_alg_size(alg);
    if (pcr >= kFirstDrtmPcr && pcr <= kLastDrtmPcr) return Bytes(size, 0xFF);
    Bytes v(size, 0);
    if (pcr == 0 && locality) v.back() = *locality;
    return v;
}

Result<ReplayResult> replay_event_log(const EventLog& log) {
    ReplayResult out;
    out.events = log.events.size();
    for (std::size_t i = 0; i < log.events.size(); ++i) {
        const Event& ev = log.events[i];
        if (ev.type == event_type::kNoAction) {
            // PFP 10.4.5.3: the StartupLocality event sets PCR 0's starting value.
            if (auto loc = startup_locality_of(ev); loc && ev.pcr == 0 && !out.startup_locality) {
                out.startup_locality = *loc;
            }
            continue;
        }
        if (ev.pcr >= kPcrCount) {
            return fail(ErrorCode::InvalidInput, "at byte offset " + std::to_string(ev.offset) + ": event " +
                                                     std::to_string(i) + " extends PCR " + std::to_string(ev.pcr) +
                                                     ", outside 0..23");
        }
        for (const EventDigest& d : ev.digests) {
            auto alg = hash_alg_from_id(d.alg_id);
            if (!alg) continue;  // a bank we cannot compute; its digests are still parsed
            auto& bank = out.banks[*alg];
            auto it = bank.find(ev.pcr);
            if (it == bank.end()) {
                it = bank.emplace(ev.pcr, pcr_initial_value(*alg, ev.pcr, out.startup_locality)).first;
            }
            auto next = extend_digest(*alg, it->second, d.digest);
            if (!next) return std::unexpected(next.error());
            it->second = std::move(*next);
            out.last_event[*alg][ev.pcr] = i;
        }
    }
    // A StartupLocality event sets PCR 0 even when nothing extends it.
    if (out.startup_locality) {
        std::vector<HashAlg> algs;
        if (log.spec_id) {
            for (const auto& a : log.spec_id->algorithms) {
                if (auto alg = hash_alg_from_id(a.alg_id)) algs.push_back(*alg);
            }
        } else {
            algs.push_back(HashAlg::Sha1);
        }
        for (HashAlg alg : algs) out.banks[alg].try_emplace(0, pcr_initial_value(alg, 0, out.startup_locality));
    }
    return out;
}

namespace {

enum class DigestInput { None, WholeData, WholeOrVariableData };

// PFP 10.4.1 and 10.4.4: event types whose digest is the hash of the event data.
DigestInput digest_input_for(std::uint32_t type) {
    switch (type) {
        case event_type::kSeparator:
        case event_type::kAction:
        case event_type::kEfiAction:
        case event_type::kSCrtmVersion:
        case event_type::kOmitBootDeviceEvents:
        case event_type::kEfiGptEvent:
        case event_type::kEfiVariableDriverConfig:
            return DigestInput::WholeData;
        // Boot variables: EDK2 measures only VariableData for EV_EFI_VARIABLE_BOOT;
        // the PFP defines the whole UEFI_VARIABLE_DATA for the others. Accept either.
        case event_type::kEfiVariableBoot:
        case event_type::kEfiVariableBoot2:
        case event_type::kEfiVariableAuthority:
            return DigestInput::WholeOrVariableData;
        default:
            return DigestInput::None;
    }
}

bool digest_matches(HashAlg alg, const Bytes& digest, ByteView input) {
    auto h = hash_bytes(alg, input);
    return h && *h == digest;
}

}  // namespace

DigestCheck check_event_digest(const Event& event) {
    const DigestInput input = digest_input_for(event.type);
    if (input == DigestInput::None) return DigestCheck::NotApplicable;
    std::optional<UefiVariableView> var;
    if (input == DigestInput::WholeOrVariableData) var = parse_uefi_variable(event.data);
    bool checked = false;
    for (const EventDigest& d : event.digests) {
        auto alg = hash_alg_from_id(d.alg_id);
        if (!alg) continue;
        checked = true;
        if (digest_matches(*alg, d.digest, event.data)) continue;
        if (var && digest_matches(*alg, d.digest, var->data)) continue;
        return DigestCheck::Mismatch;
    }
    return checked ? DigestCheck::Match : DigestCheck::NotApplicable;
}

std::set<std::uint32_t> pcrs_to_compare(const ReplayResult& replayed, const CompareOptions& options) {
    if (options.pcrs) return *options.pcrs;
    std::set<std::uint32_t> selected;
    for (std::uint32_t pcr = 0; pcr < kFirmwarePcrs; ++pcr) selected.insert(pcr);
    for (const auto& [alg, values] : replayed.banks) {
        for (const auto& [pcr, value] : values) selected.insert(pcr);
    }
    return selected;
}

namespace {
std::string bank_names(const PcrValues& banks) {
    std::string out;
    for (const auto& [alg, values] : banks) out += (out.empty() ? "" : ", ") + std::string(hash_alg_name(alg));
    return out.empty() ? "none" : out;
}
}  // namespace

Result<Comparison> compare_pcrs(const ReplayResult& replayed, const PcrValues& reference,
                                const CompareOptions& options) {
    Comparison cmp;
    if (options.bank) {
        const std::string name(hash_alg_name(*options.bank));
        if (!replayed.banks.contains(*options.bank)) {
            return fail(ErrorCode::NotFound, "the event log records no " + name + " digests (it has: " +
                                                 bank_names(replayed.banks) + "): it cannot vouch for the " + name +
                                                 " PCRs");
        }
        if (!reference.contains(*options.bank)) {
            return fail(ErrorCode::NotFound, "the reference has no " + name + " bank (it has: " +
                                                 bank_names(reference) + ")");
        }
    }
    const std::set<std::uint32_t> selected = pcrs_to_compare(replayed, options);
    static const std::map<std::uint32_t, Bytes> kNothing;
    for (const auto& [alg, ref_bank] : reference) {
        if (options.bank && *options.bank != alg) continue;
        cmp.banks.push_back(alg);
        auto logged = replayed.banks.find(alg);
        if (logged == replayed.banks.end()) cmp.banks_not_in_log.push_back(alg);
        const auto& values = logged != replayed.banks.end() ? logged->second : kNothing;
        for (std::uint32_t pcr : selected) {
            PcrMismatch m{alg, pcr, {}, {}, std::nullopt};
            auto rv = values.find(pcr);
            m.replayed = rv != values.end() ? rv->second : pcr_initial_value(alg, pcr, replayed.startup_locality);
            if (auto le = replayed.last_event.find(alg); le != replayed.last_event.end()) {
                if (auto e = le->second.find(pcr); e != le->second.end()) m.last_event = e->second;
            }
            auto ref = ref_bank.find(pcr);
            if (ref == ref_bank.end()) {
                if (options.pcrs) cmp.mismatches.push_back(std::move(m));
                continue;
            }
            ++cmp.compared;
            if (ref->second != m.replayed) {
                m.reference = ref->second;
                cmp.mismatches.push_back(std::move(m));
            }
        }
    }
    return cmp;
}

}  // namespace cvmunlock
