// Parser for TCG PC Client event logs (PFP 1.05 section 10.2 and 10.4).
#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/hash.hpp"

namespace cvmunlock {

namespace {

// TCG_PCR_EVENT: PCRIndex(4) EventType(4) Digest(20) EventSize(4) Event[EventSize]
constexpr std::size_t kSha1DigestSize = 20;
// TCG_EfiSpecIdEvent: Signature(16) platformClass(4) minor(1) major(1) errata(1)
// uintnSize(1) numberOfAlgorithms(4) digestSizes[n](4 each) vendorInfoSize(1) vendorInfo
constexpr std::size_t kSpecIdSignatureSize = 16;
constexpr std::uint32_t kMaxAlgorithms = 16;
constexpr std::array<char, kSpecIdSignatureSize> kSpecId03 = {
    'S', 'p', 'e', 'c', ' ', 'I', 'D', ' ', 'E', 'v', 'e', 'n', 't', '0', '3', '\0'};
constexpr char kStartupLocalitySignature[16] = "StartupLocality";  // 15 chars + NUL

std::string hex_offset(std::size_t offset) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%zx", offset);
    return buf;
}

std::unexpected<Error> malformed(std::size_t offset, const std::string& what) {
    return fail(ErrorCode::InvalidInput, "at byte offset " + std::to_string(offset) + " (" +
                                             hex_offset(offset) + "): " + what);
}

bool is_padding_byte(std::uint8_t b) { return b == 0x00 || b == 0xFF; }

// Offset from which every remaining byte is 0x00 or 0xFF.
std::size_t padding_start(ByteView data) {
    std::size_t end = data.size();
    while (end > 0 && is_padding_byte(data[end - 1])) --end;
    return end;
}

Result<Event> parse_legacy_record(Reader& r) {
    Event ev;
    ev.offset = r.offset();
    ByteView digest;
    std::uint32_t size = 0;
    if (!r.u32(ev.pcr) || !r.u32(ev.type) || !r.take(kSha1DigestSize, digest)) {
        return malformed(ev.offset, "truncated TCG_PCR_EVENT header (32 bytes needed, " +
                                        std::to_string(r.remaining()) + " left)");
    }
    const std::size_t size_offset = r.offset();
    if (!r.u32(size)) return malformed(size_offset, "truncated TCG_PCR_EVENT EventSize");
    ByteView data;
    if (!r.take(size, data)) {
        return malformed(size_offset, "event data size " + std::to_string(size) + " exceeds the " +
                                          std::to_string(r.remaining()) + " bytes left");
    }
    ev.digests.push_back({static_cast<std::uint16_t>(HashAlg::Sha1), Bytes(digest.begin(), digest.end())});
    ev.data.assign(data.begin(), data.end());
    return ev;
}

Result<SpecIdEvent> parse_spec_id(ByteView data, std::size_t base) {
    Reader r(data, base);
    SpecIdEvent spec;
    std::uint32_t count = 0;
    if (!r.skip(kSpecIdSignatureSize) || !r.u32(spec.platform_class) || !r.u8(spec.version_minor) ||
        !r.u8(spec.version_major) || !r.u8(spec.errata) || !r.u8(spec.uintn_size) || !r.u32(count)) {
        return malformed(r.offset(), "truncated Spec ID event");
    }
    // A TPM has at most TPM2_NUM_PCR_BANKS (16) banks; more is absurd input.
    if (count == 0 || count > kMaxAlgorithms || count > r.remaining() / 4) {
        return malformed(r.offset() - 4, "Spec ID numberOfAlgorithms " + std::to_string(count) +
                                             " is outside 1.." + std::to_string(kMaxAlgorithms) +
                                             " or exceeds the event data");
    }
    for (std::uint32_t i = 0; i < count; ++i) {
        SpecIdAlgorithm alg;
        const std::size_t at = r.offset();
        r.u16(alg.alg_id);
        r.u16(alg.digest_size);
        if (alg.digest_size == 0 || alg.digest_size > kMaxDigestSize) {
            return malformed(at, "Spec ID digest size " + std::to_string(alg.digest_size) +
                                     " for algorithm " + hex_offset(alg.alg_id) + " is out of range");
        }
        if (auto known = hash_alg_from_id(alg.alg_id); known && hash_alg_size(*known) != alg.digest_size) {
            return malformed(at, "Spec ID gives " + std::string(hash_alg_name(*known)) + " a digest size of " +
                                     std::to_string(alg.digest_size));
        }
        for (const auto& seen : spec.algorithms) {
            if (seen.alg_id == alg.alg_id) return malformed(at, "Spec ID lists an algorithm twice");
        }
        spec.algorithms.push_back(alg);
    }
    std::uint8_t vendor_size = 0;
    ByteView vendor;
    if (!r.u8(vendor_size) || !r.take(vendor_size, vendor)) {
        return malformed(r.offset(), "truncated Spec ID vendorInfo");
    }
    spec.vendor_info.assign(vendor.begin(), vendor.end());
    return spec;
}

Result<Event> parse_agile_record(Reader& r, const SpecIdEvent& spec) {
    Event ev;
    ev.offset = r.offset();
    std::uint32_t count = 0;
    if (!r.u32(ev.pcr) || !r.u32(ev.type) || !r.u32(count)) {
        return malformed(ev.offset, "truncated TCG_PCR_EVENT2 header (12 bytes needed, " +
                                        std::to_string(r.remaining()) + " left)");
    }
    if (count == 0 || count > spec.algorithms.size()) {
        return malformed(r.offset() - 4, "digest count " + std::to_string(count) +
                                             " outside 1.." + std::to_string(spec.algorithms.size()) +
                                             " (the Spec ID algorithms)");
    }
    ev.digests.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::size_t at = r.offset();
        std::uint16_t alg_id = 0;
        if (!r.u16(alg_id)) return malformed(at, "truncated digest algorithm id");
        auto it = std::find_if(spec.algorithms.begin(), spec.algorithms.end(),
                               [&](const SpecIdAlgorithm& a) { return a.alg_id == alg_id; });
        if (it == spec.algorithms.end()) {
            return malformed(at, "digest algorithm " + hex_offset(alg_id) + " is not declared in the Spec ID event");
        }
        for (const auto& d : ev.digests) {
            if (d.alg_id == alg_id) return malformed(at, "digest algorithm " + hex_offset(alg_id) + " appears twice");
        }
        ByteView digest;
        if (!r.take(it->digest_size, digest)) return malformed(at + 2, "truncated digest");
        ev.digests.push_back({alg_id, Bytes(digest.begin(), digest.end())});
    }
    const std::size_t size_offset = r.offset();
    std::uint32_t size = 0;
    if (!r.u32(size)) return malformed(size_offset, "truncated TCG_PCR_EVENT2 EventSize");
    ByteView data;
    if (!r.take(size, data)) {
        return malformed(size_offset, "event data size " + std::to_string(size) + " exceeds the " +
                                          std::to_string(r.remaining()) + " bytes left");
    }
    ev.data.assign(data.begin(), data.end());
    return ev;
}

bool is_spec_id03(const Event& ev) {
    return ev.type == event_type::kNoAction && ev.data.size() >= kSpecIdSignatureSize &&
           std::memcmp(ev.data.data(), kSpecId03.data(), kSpecIdSignatureSize) == 0;
}

}  // namespace

std::optional<std::uint8_t> startup_locality_of(const Event& event) {
    constexpr std::size_t kSize = sizeof kStartupLocalitySignature + 1;
    if (event.type != event_type::kNoAction || event.data.size() != kSize) return std::nullopt;
    if (std::memcmp(event.data.data(), kStartupLocalitySignature, sizeof kStartupLocalitySignature) != 0) {
        return std::nullopt;
    }
    return event.data.back();
}

Result<EventLog> parse_event_log(ByteView data) {
    const std::size_t pad = padding_start(data);
    if (pad == 0) return malformed(0, "the event log is empty or only padding");
    Reader r(data.first(data.size()), 0);
    EventLog log;

    auto first = parse_legacy_record(r);
    if (!first) return std::unexpected(first.error());
    if (is_spec_id03(*first)) {
        auto spec = parse_spec_id(first->data, first->offset + 32);
        if (!spec) return std::unexpected(spec.error());
        log.format = LogFormat::CryptoAgile;
        log.spec_id = std::move(*spec);
    } else {
        log.format = LogFormat::Legacy;
    }
    log.events.push_back(std::move(*first));

    while (r.offset() < pad) {
        auto ev = log.format == LogFormat::CryptoAgile ? parse_agile_record(r, *log.spec_id)
                                                        : parse_legacy_record(r);
        if (!ev) return std::unexpected(ev.error());
        log.events.push_back(std::move(*ev));
    }
    log.trailing_padding = data.size() - r.offset();
    return log;
}

}  // namespace cvmunlock
