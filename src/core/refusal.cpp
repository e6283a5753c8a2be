#include "cvmunlock/refusal.hpp"

#include "cvmunlock/event_decode.hpp"

#include <algorithm>

namespace cvmunlock {

namespace {
std::vector<std::size_t> events_of(const EventLog& log, HashAlg bank, std::uint32_t pcr) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < log.events.size(); ++i) {
        const Event& ev = log.events[i];
        if (ev.type == event_type::kNoAction || ev.pcr != pcr) continue;
        for (const auto& d : ev.digests) {
            if (d.alg_id == static_cast<std::uint16_t>(bank)) {
                out.push_back(i);
                break;
            }
        }
    }
    return out;
}

Bytes prefix_of(const Event& ev, HashAlg bank) {
    for (const auto& d : ev.digests) {
        if (d.alg_id == static_cast<std::uint16_t>(bank)) {
            return Bytes(d.digest.begin(), d.digest.begin() + std::min(d.digest.size(), kEventDigestPrefix));
        }
    }
    return {};
}

void locate_event(PcrChange& change, const CvmToken& token, const EventLog& log) {
    auto enrolled = token.events.find(change.pcr);
    if (enrolled == token.events.end()) return;
    const auto now = events_of(log, token.pcr_bank, change.pcr);
    std::size_t k = 0;
    while (k < now.size() && k < enrolled->second.size() && prefix_of(log.events[now[k]], token.pcr_bank) == enrolled->second[k]) ++k;
    if (k < now.size()) {
        change.event_index = now[k];
        change.event_text = describe_event(log, now[k]);
    } else if (k < enrolled->second.size()) {
        change.event_text = "the log has " + std::to_string(enrolled->second.size() - k) +
                            " fewer events in this PCR than at enrollment";
    }
}
}  // namespace

std::vector<Bytes> event_digest_prefixes(const EventLog& log, HashAlg bank, std::uint32_t pcr) {
    std::vector<Bytes> out;
    for (std::size_t i : events_of(log, bank, pcr)) out.push_back(prefix_of(log.events[i], bank));
    return out;
}

std::vector<PcrChange> explain_refusal(const CvmToken& token, const PcrValues& current, const EventLog* log) {
    std::vector<PcrChange> out;
    auto bank = current.find(token.pcr_bank);
    std::vector<std::uint32_t> all = token.pcrs;
    if (token.lock_pcr) all.push_back(*token.lock_pcr);
    for (std::uint32_t pcr : all) {
        auto enrolled = token.pcr_values.find(pcr);
        if (bank == current.end() || enrolled == token.pcr_values.end()) continue;
        auto now = bank->second.find(pcr);
        if (now == bank->second.end() || now->second == enrolled->second) continue;
        PcrChange c{pcr, token.lock_pcr == pcr, enrolled->second, now->second, std::nullopt, {}};
        if (log != nullptr && !c.lock_pcr) locate_event(c, token, *log);
        out.push_back(std::move(c));
    }
    return out;
}

std::vector<EventDifference> diff_events(const CvmToken& token, const EventLog& log, std::uint32_t pcr) {
    std::vector<EventDifference> out;
    auto found = token.events.find(pcr);
    const std::vector<Bytes> none;
    const std::vector<Bytes>& then = found == token.events.end() ? none : found->second;
    const auto now_index = events_of(log, token.pcr_bank, pcr);
    std::vector<Bytes> now;
    for (std::size_t i : now_index) now.push_back(prefix_of(log.events[i], token.pcr_bank));
    // lcs[i][j]: longest common subsequence of then[i..] and now[j..] (a PCR has at most a few hundred events).
    std::vector<std::vector<std::uint16_t>> lcs(then.size() + 1, std::vector<std::uint16_t>(now.size() + 1, 0));
    for (std::size_t i = then.size(); i-- > 0;) {
        for (std::size_t j = now.size(); j-- > 0;) {
            lcs[i][j] = then[i] == now[j] ? static_cast<std::uint16_t>(lcs[i + 1][j + 1] + 1)
                                          : std::max(lcs[i + 1][j], lcs[i][j + 1]);
        }
    }
    std::size_t i = 0, j = 0;
    auto added = [&](std::size_t k) {
        out.push_back({true, now_index[k], now[k], describe_event(log, now_index[k])});
    };
    auto removed = [&](std::size_t k) { out.push_back({false, std::nullopt, then[k], to_hex(then[k])}); };
    while (i < then.size() && j < now.size()) {
        if (then[i] == now[j]) {
            ++i, ++j;
        } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
            removed(i++);
        } else {
            added(j++);
        }
    }
    while (i < then.size()) removed(i++);
    while (j < now.size()) added(j++);
    return out;
}

std::string describe_change(const PcrChange& c, HashAlg bank) {
    const std::string b(hash_alg_name(bank));
    if (c.lock_pcr) {
        return "lock PCR " + std::to_string(c.pcr) + " (" + b +
               ") is no longer at its boot value: this boot already ran `cvmunlock lock`";
    }
    std::string s = "PCR " + std::to_string(c.pcr) + " (" + b + ") changed since enrollment: enrolled " +
                    to_hex(c.enrolled) + ", now " + to_hex(c.current);
    if (c.event_index) {
        s += "; first differing event " + c.event_text;
    } else if (!c.event_text.empty()) {
        s += "; " + c.event_text;  // no event differs: the log has fewer of them
    }
    return s;
}

}  // namespace cvmunlock
