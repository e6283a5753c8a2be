// Edits of real event logs for tests: a log with every event of one PCR cut
// out (a host that hides what it measured), or with the digests of one bank
// only (a firmware log that omits banks the TPM has).
#pragma once

#include <algorithm>

#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/hash.hpp"

namespace cvmunlock::testing {

inline EventLog without_pcr(EventLog log, std::uint32_t pcr) {
    std::erase_if(log.events, [pcr](const Event& ev) { return ev.pcr == pcr && ev.type != event_type::kNoAction; });
    return log;
}

inline EventLog only_bank(EventLog log, HashAlg bank) {
    const auto id = static_cast<std::uint16_t>(bank);
    for (std::size_t i = log.spec_id ? 1 : 0; i < log.events.size(); ++i) {
        std::erase_if(log.events[i].digests, [id](const EventDigest& d) { return d.alg_id != id; });
    }
    if (log.spec_id) {
        std::erase_if(log.spec_id->algorithms, [id](const SpecIdAlgorithm& a) { return a.alg_id != id; });
        log.events.front() = make_spec_id_record(*log.spec_id);
    }
    return log;
}

}  // namespace cvmunlock::testing
