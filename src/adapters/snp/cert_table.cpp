#include "cert_table.hpp"

#include <algorithm>
#include <cstdio>

namespace cvmunlock::snp {

namespace {

bool all_zero(ByteView bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

std::string hex_offset(std::size_t offset) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%zx", offset);
    return buf;
}

}  // namespace

std::optional<Guid> guid_from_string(const std::string& text) {
    // 8-4-4-4-12 hex digits.
    if (text.size() != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-') {
        return std::nullopt;
    }
    std::string hex;
    for (char c : text) {
        if (c != '-') hex.push_back(c);
    }
    auto bytes = from_hex(hex);
    if (!bytes || bytes->size() != 16) return std::nullopt;
    Guid g{};
    std::copy(bytes->begin(), bytes->end(), g.begin());
    return g;
}

std::string guid_to_string(const Guid& guid) {
    const std::string hex = to_hex(guid);
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
           hex.substr(20);
}

CertRole cert_role_for_guid(const Guid& guid) {
    static const std::pair<const char*, CertRole> known[] = {
        {kVcekGuid, CertRole::Vcek}, {kVlekGuid, CertRole::Vlek}, {kAskGuid, CertRole::Ask}, {kArkGuid, CertRole::Ark}};
    for (const auto& [text, role] : known) {
        if (guid_from_string(text) == guid) return role;
    }
    return CertRole::Unknown;
}

Result<std::vector<CertTableEntry>> parse_cert_table(ByteView blob, const std::string& what) {
    std::vector<CertTableEntry> out;
    if (all_zero(blob)) return out;  // the host supplied no certificates
    struct Raw {
        Guid guid;
        std::uint32_t offset, length;
        std::size_t at;
    };
    std::vector<Raw> raw;
    std::size_t pos = 0;
    for (;; pos += kCertTableEntrySize) {
        if (blob.size() - pos < kCertTableEntrySize) {
            return fail(ErrorCode::InvalidInput,
                        what + ": certificate table has no all-zero terminator entry (ends at " +
                            hex_offset(pos) + ")");
        }
        const ByteView entry = blob.subspan(pos, kCertTableEntrySize);
        if (all_zero(entry)) break;
        Raw r{};
        std::copy_n(entry.begin(), r.guid.size(), r.guid.begin());
        r.offset = load_le32(entry.data() + kCertEntryOffsetField);
        r.length = load_le32(entry.data() + kCertEntryLengthField);
        r.at = pos;
        raw.push_back(r);
    }
    const std::size_t table_end = pos + kCertTableEntrySize;
    for (const Raw& r : raw) {
        const std::string where = what + ": certificate table entry at " + hex_offset(r.at) + " (GUID " +
                                  guid_to_string(r.guid) + ")";
        if (r.length == 0) return fail(ErrorCode::InvalidInput, where + ": length is zero");
        if (r.offset < table_end) {
            return fail(ErrorCode::InvalidInput,
                        where + ": offset " + hex_offset(r.offset) + " points into the table (ends at " +
                            hex_offset(table_end) + ")");
        }
        if (r.offset > blob.size() || blob.size() - r.offset < r.length) {
            return fail(ErrorCode::InvalidInput, where + ": offset " + hex_offset(r.offset) + " + length " +
                                                     std::to_string(r.length) + " is past the end of the " +
                                                     std::to_string(blob.size()) + "-byte blob");
        }
        const ByteView der = blob.subspan(r.offset, r.length);
        out.push_back(CertTableEntry{r.guid, cert_role_for_guid(r.guid), Bytes(der.begin(), der.end())});
    }
    return out;
}

Bytes build_cert_table(const std::vector<CertTableEntry>& entries) {
    Bytes table;
    std::size_t offset = (entries.size() + 1) * kCertTableEntrySize;
    for (const CertTableEntry& e : entries) {
        table.insert(table.end(), e.guid.begin(), e.guid.end());
        append_le32(table, static_cast<std::uint32_t>(offset));
        append_le32(table, static_cast<std::uint32_t>(e.der.size()));
        offset += e.der.size();
    }
    table.resize(table.size() + kCertTableEntrySize, 0);
    for (const CertTableEntry& e : entries) table.insert(table.end(), e.der.begin(), e.der.end());
    return table;
}

std::vector<Bytes> known_certificates(const std::vector<CertTableEntry>& entries) {
    std::vector<Bytes> out;
    for (const CertTableEntry& e : entries) {
        if (e.role != CertRole::Unknown) out.push_back(e.der);
    }
    return out;
}

}  // namespace cvmunlock::snp
