#include "cvmunlock/predict.hpp"

#include "cvmunlock/authenticode.hpp"

namespace cvmunlock {

namespace {
constexpr std::uint32_t kBootChainPcr = 4;

// The banks the log records digests in (from its first measured event).
std::vector<HashAlg> banks_of(const EventLog& log) {
    std::vector<HashAlg> out;
    for (const Event& ev : log.events) {
        if (ev.type == event_type::kNoAction) continue;
        for (const auto& d : ev.digests) {
            if (auto alg = hash_alg_from_id(d.alg_id)) out.push_back(*alg);
        }
        break;
    }
    return out;
}
}  // namespace

Result<Prediction> predict_image_updates(const EventLog& log, const std::vector<ImageUpdate>& updates) {
    auto current = replay_event_log(log);
    if (!current) return std::unexpected(current.error());
    EventLog next = log;
    Prediction out;
    out.current = current->banks;
    const std::vector<HashAlg> banks = banks_of(log);
    for (const ImageUpdate& u : updates) {
        std::map<HashAlg, Bytes> was;
        std::map<HashAlg, Bytes> will_be;
        for (HashAlg bank : banks) {
            auto a = authenticode_digest(u.current, bank);
            if (!a) return fail(a.error().code, u.current_name + ": " + a.error().message);
            auto b = authenticode_digest(u.next, bank);
            if (!b) return fail(b.error().code, u.next_name + ": " + b.error().message);
            was[bank] = std::move(*a);
            will_be[bank] = std::move(*b);
        }
        bool found = false;
        for (std::size_t i = 0; i < next.events.size(); ++i) {
            Event& ev = next.events[i];
            if (ev.pcr != kBootChainPcr || ev.type != event_type::kEfiBootServicesApplication) continue;
            ReplacedEvent r{i, ev.pcr, u.current_name, {}, {}};
            for (auto& d : ev.digests) {
                auto alg = hash_alg_from_id(d.alg_id);
                if (!alg || !was.contains(*alg) || d.digest != was[*alg]) continue;
                r.logged[*alg] = d.digest;
                d.digest = will_be[*alg];
                r.predicted[*alg] = d.digest;
            }
            if (r.logged.empty()) continue;
            found = true;
            out.replaced.push_back(std::move(r));
        }
        if (!found) {
            const auto sha256 = was.find(HashAlg::Sha256);
            return fail(ErrorCode::NotFound,
                        "no PCR 4 event of this boot's log measured " + u.current_name +
                            (sha256 != was.end() ? " (image hash sha256 " + to_hex(sha256->second) + ")" : std::string()) +
                            ": it did not start this boot, or it changed since; the next boot cannot be predicted "
                            "from this log");
        }
    }
    auto predicted = replay_event_log(next);
    if (!predicted) return std::unexpected(predicted.error());
    out.predicted = predicted->banks;
    return out;
}

}  // namespace cvmunlock
