// libFuzzer target for the event-log path: parse, replay, digest checks, display
// decoding, and the serializer round trip (PFP 1.05 section 10 layouts).
#include <cstddef>
#include <cstdint>
#include <string>

#include "cvmunlock/event_decode.hpp"
#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/pcr_json.hpp"
#include "cvmunlock/replay.hpp"
#include "fuzz_support.hpp"

namespace {

using namespace cvmunlock;
using fuzz::require;

bool same_spec_id(const SpecIdEvent& a, const SpecIdEvent& b) {
    if (a.algorithms.size() != b.algorithms.size()) return false;
    for (std::size_t i = 0; i < a.algorithms.size(); ++i) {
        if (a.algorithms[i].alg_id != b.algorithms[i].alg_id ||
            a.algorithms[i].digest_size != b.algorithms[i].digest_size) {
            return false;
        }
    }
    return a.platform_class == b.platform_class && a.version_minor == b.version_minor &&
           a.version_major == b.version_major && a.errata == b.errata && a.uintn_size == b.uintn_size &&
           a.vendor_info == b.vendor_info;
}

bool same_event(const Event& a, const Event& b) {
    if (a.digests.size() != b.digests.size()) return false;
    for (std::size_t i = 0; i < a.digests.size(); ++i) {
        if (a.digests[i].alg_id != b.digests[i].alg_id || a.digests[i].digest != b.digests[i].digest) return false;
    }
    return a.offset == b.offset && a.pcr == b.pcr && a.type == b.type && a.data == b.data;
}

// serialize_event_log drops only the trailing padding, so re-parsing its output
// must give back the same records at the same offsets.
void check_round_trip(const EventLog& log) {
    const Bytes bytes = serialize_event_log(log);
    auto again = parse_event_log(bytes);
    require(again.has_value(), "serialized log does not parse", again ? "" : again.error().message);
    require(again->format == log.format, "round trip changed the log format");
    require(again->spec_id.has_value() == log.spec_id.has_value(), "round trip added or lost the Spec ID");
    if (log.spec_id) require(same_spec_id(*again->spec_id, *log.spec_id), "round trip changed the Spec ID event");
    require(again->events.size() == log.events.size(), "round trip changed the record count",
            std::to_string(log.events.size()) + " -> " + std::to_string(again->events.size()));
    for (std::size_t i = 0; i < log.events.size(); ++i) {
        require(same_event(again->events[i], log.events[i]), "round trip changed a record",
                "record " + std::to_string(i) + " at offset " + std::to_string(log.events[i].offset));
    }
    require(again->trailing_padding == 0, "serialized log has trailing padding");
}

// Replayed PCRs go through the JSON form the CLI prints and the reference-file
// reader, and compare equal with themselves.
void check_replay(const EventLog& log) {
    auto replayed = replay_event_log(log);
    if (!replayed) {
        require(replayed.error().code == ErrorCode::InvalidInput, "replay failed other than on invalid input",
                replayed.error().message);
        return;
    }
    const std::string text = replay_to_json(*replayed).dump();
    auto reread = pcr_values_from_json(text);
    require(reread.has_value(), "replayed PCR JSON does not read back", reread ? "" : reread.error().message);
    require(*reread == replayed->banks, "replayed PCR JSON reads back different values");
    auto self = compare_pcrs(*replayed, replayed->banks, CompareOptions{});
    require(self.has_value() && self->mismatches.empty(), "replayed PCRs differ from themselves");
}

// decode_event_data never fails: every event gets a JSON object with a string
// summary, and the JSON dumps (nlohmann throws on invalid UTF-8).
void check_events(const EventLog& log) {
    for (const Event& ev : log.events) {
        (void)check_event_digest(ev);
        (void)startup_locality_of(ev);
        (void)event_type_name(ev.type);
        const nlohmann::json decoded = decode_event_data(ev);
        require(decoded.is_object() && decoded.contains("summary") && decoded["summary"].is_string(),
                "decoded event has no string summary", "offset " + std::to_string(ev.offset));
        (void)decoded.dump();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > fuzz::kMaxInputSize) return fuzz::kRejectInput;
    auto log = parse_event_log(ByteView(data, size));
    if (!log) {
        require(log.error().code == ErrorCode::InvalidInput, "parse failed other than on invalid input",
                log.error().message);
        return 0;
    }
    require(!log->events.empty(), "parsed log has no records");
    require(log->format == LogFormat::Legacy || log->spec_id.has_value(), "crypto-agile log without a Spec ID");
    check_replay(*log);
    check_events(*log);
    check_round_trip(*log);
    return 0;
}
