// Serializer for event logs: the inverse of parse_event_log, used by tests,
// fuzzing seeds and the synthetic benchmark log.
#include <algorithm>
#include <cstring>

#include "cvmunlock/eventlog.hpp"

namespace cvmunlock {

namespace {
constexpr char kSpecId03[16] = "Spec ID Event03";

void append(Bytes& out, ByteView v) { out.insert(out.end(), v.begin(), v.end()); }

void append_legacy(Bytes& out, const Event& ev) {
    append_le32(out, ev.pcr);
    append_le32(out, ev.type);
    Bytes digest(20, 0);
    if (!ev.digests.empty()) {
        const Bytes& d = ev.digests.front().digest;
        std::memcpy(digest.data(), d.data(), std::min<std::size_t>(d.size(), digest.size()));
    }
    append(out, digest);
    append_le32(out, static_cast<std::uint32_t>(ev.data.size()));
    append(out, ev.data);
}

void append_agile(Bytes& out, const Event& ev) {
    append_le32(out, ev.pcr);
    append_le32(out, ev.type);
    append_le32(out, static_cast<std::uint32_t>(ev.digests.size()));
    for (const auto& d : ev.digests) {
        append_le16(out, d.alg_id);
        append(out, d.digest);
    }
    append_le32(out, static_cast<std::uint32_t>(ev.data.size()));
    append(out, ev.data);
}
}  // namespace

Event make_spec_id_record(const SpecIdEvent& spec) {
    Event ev;
    ev.pcr = 0;
    ev.type = event_type::kNoAction;
    ev.digests.push_back({0x0004, Bytes(20, 0)});
    Bytes& d = ev.data;
    d.insert(d.end(), kSpecId03, kSpecId03 + sizeof kSpecId03);
    append_le32(d, spec.platform_class);
    d.push_back(spec.version_minor);
    d.push_back(spec.version_major);
    d.push_back(spec.errata);
    d.push_back(spec.uintn_size);
    append_le32(d, static_cast<std::uint32_t>(spec.algorithms.size()));
    for (const auto& a : spec.algorithms) {
        append_le16(d, a.alg_id);
        append_le16(d, a.digest_size);
    }
    d.push_back(static_cast<std::uint8_t>(spec.vendor_info.size()));
    d.insert(d.end(), spec.vendor_info.begin(), spec.vendor_info.end());
    return ev;
}

Bytes serialize_event_log(const EventLog& log) {
    Bytes out;
    for (std::size_t i = 0; i < log.events.size(); ++i) {
        // The first record is always a TCG_PCR_EVENT (PFP 10.2.1).
        if (i == 0 || log.format == LogFormat::Legacy) {
            append_legacy(out, log.events[i]);
        } else {
            append_agile(out, log.events[i]);
        }
    }
    return out;
}

}  // namespace cvmunlock
