// PE/COFF image hash (Microsoft PE/COFF specification, "Calculating the PE
// Image Hash"; what EDK2's measured boot and shim compute for PCR 4).
#include "cvmunlock/authenticode.hpp"

#include "ossl_ptr.hpp"

#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include <algorithm>
#include <vector>

namespace cvmunlock {

namespace {
constexpr std::size_t kDosLfanewOffset = 0x3C;
constexpr std::size_t kCoffHeaderSize = 20;
constexpr std::uint16_t kMagicPe32 = 0x10B;
constexpr std::uint16_t kMagicPe32Plus = 0x20B;
constexpr std::size_t kSectionHeaderSize = 40;
constexpr std::uint32_t kCertificateTableIndex = 4;

struct Range {
    std::size_t begin;
    std::size_t end;
};

Error malformed(const std::string& what, std::size_t offset) {
    return Error(ErrorCode::InvalidInput,
                 "not a PE image: " + what + " (at offset " + std::to_string(offset) + ")");
}

// Where the headers say things are; checked against the file's size.
struct PeHeaders {
    std::size_t checksum = 0;
    std::size_t size_of_headers = 0;
    std::size_t section_table = 0;
    std::size_t section_count = 0;
    bool has_certificate_entry = false;
    std::size_t certificate_entry = 0;
    std::size_t certificate_offset = 0;
    std::size_t certificate_size = 0;
};

Result<PeHeaders> read_headers(ByteView image) {
    const std::size_t size = image.size();
    auto fits = [size](std::size_t offset, std::size_t length) { return offset <= size && length <= size - offset; };
    if (!fits(0, kDosLfanewOffset + 4) || image[0] != 'M' || image[1] != 'Z') {
        return std::unexpected(malformed("no MZ header", 0));
    }
    const std::size_t pe = load_le32(image.data() + kDosLfanewOffset);
    if (!fits(pe, 4 + kCoffHeaderSize) || image[pe] != 'P' || image[pe + 1] != 'E' || image[pe + 2] != 0 ||
        image[pe + 3] != 0) {
        return std::unexpected(malformed("no PE signature where e_lfanew points", pe));
    }
    const std::size_t coff = pe + 4;
    const std::size_t section_count = load_le16(image.data() + coff + 2);
    const std::size_t optional_size = load_le16(image.data() + coff + 16);
    const std::size_t opt = coff + kCoffHeaderSize;
    if (!fits(opt, 2) || optional_size < 2 || !fits(opt, optional_size)) {
        return std::unexpected(malformed("optional header beyond the file", opt));
    }
    const std::uint16_t magic = load_le16(image.data() + opt);
    if (magic != kMagicPe32 && magic != kMagicPe32Plus) {
        return std::unexpected(malformed("optional header magic is neither PE32 nor PE32+", opt));
    }
    // Offsets within the optional header (PE/COFF specification, "Optional Header").
    const std::size_t checksum = opt + 64;
    const std::size_t rva_count_at = opt + (magic == kMagicPe32 ? 92 : 108);
    const std::size_t directories = opt + (magic == kMagicPe32 ? 96 : 112);
    if (optional_size < rva_count_at + 4 - opt) {
        return std::unexpected(malformed("optional header too short for its fields", opt));
    }
    const std::size_t size_of_headers = load_le32(image.data() + opt + 60);
    const std::uint32_t rva_count = load_le32(image.data() + rva_count_at);
    const bool has_certificate_entry = rva_count > kCertificateTableIndex;
    const std::size_t certificate_entry = directories + 8 * kCertificateTableIndex;
    if (has_certificate_entry && certificate_entry + 8 > opt + optional_size) {
        return std::unexpected(malformed("NumberOfRvaAndSizes larger than the optional header", rva_count_at));
    }
    const std::size_t section_table = opt + optional_size;
    if (!fits(section_table, section_count * kSectionHeaderSize)) {
        return std::unexpected(malformed("section table beyond the file", section_table));
    }
    if (size_of_headers < section_table + section_count * kSectionHeaderSize || !fits(0, size_of_headers)) {
        return std::unexpected(malformed("SizeOfHeaders does not cover the headers or lies beyond the file", opt + 60));
    }
    PeHeaders h;
    h.checksum = checksum;
    h.size_of_headers = size_of_headers;
    h.section_table = section_table;
    h.section_count = section_count;
    h.has_certificate_entry = has_certificate_entry;
    h.certificate_entry = certificate_entry;
    if (has_certificate_entry) {
        h.certificate_offset = load_le32(image.data() + certificate_entry);
        h.certificate_size = load_le32(image.data() + certificate_entry + 4);
        if (h.certificate_size != 0 &&
            (!fits(h.certificate_offset, h.certificate_size) || h.certificate_offset < size_of_headers)) {
            return std::unexpected(malformed("certificate table beyond the file or inside the headers", certificate_entry));
        }
    }
    return h;
}
}  // namespace

Result<Bytes> authenticode_digest(ByteView image, HashAlg alg) {
    const std::size_t size = image.size();
    auto fits = [size](std::size_t offset, std::size_t length) { return offset <= size && length <= size - offset; };
    auto headers = read_headers(image);
    if (!headers) return std::unexpected(headers.error());
    const std::size_t checksum = headers->checksum;
    const std::size_t size_of_headers = headers->size_of_headers;
    const std::size_t section_table = headers->section_table;
    const std::size_t section_count = headers->section_count;
    const bool has_certificate_entry = headers->has_certificate_entry;
    const std::size_t certificate_entry = headers->certificate_entry;
    const std::size_t certificate_size = headers->certificate_size;

    // The headers, without CheckSum and without the certificate table's entry.
    std::vector<Range> ranges;
    if (has_certificate_entry) {
        ranges = {{0, checksum}, {checksum + 4, certificate_entry}, {certificate_entry + 8, size_of_headers}};
    } else {
        ranges = {{0, checksum}, {checksum + 4, size_of_headers}};
    }
    // The sections' raw data in file order.
    std::vector<Range> sections;
    for (std::size_t i = 0; i < section_count; ++i) {
        const std::uint8_t* h = image.data() + section_table + i * kSectionHeaderSize;
        const std::size_t raw_size = load_le32(h + 16);
        const std::size_t raw_pointer = load_le32(h + 20);
        if (raw_size == 0) continue;
        if (!fits(raw_pointer, raw_size)) {
            return std::unexpected(malformed("section " + std::to_string(i) + "'s raw data beyond the file",
                                             section_table + i * kSectionHeaderSize + 16));
        }
        sections.push_back({raw_pointer, raw_pointer + raw_size});
    }
    std::stable_sort(sections.begin(), sections.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
    std::size_t hashed = size_of_headers;
    for (const Range& r : sections) {
        ranges.push_back(r);
        hashed += r.end - r.begin;
    }
    // What follows, up to the certificate table (which is last in a signed image).
    if (size > hashed + certificate_size) ranges.push_back({hashed, size - certificate_size});

    std::vector<ByteView> parts;
    parts.reserve(ranges.size());
    for (const Range& r : ranges) {
        if (r.begin > r.end || r.end > size) return std::unexpected(malformed("overlapping headers", r.begin));
        parts.push_back(image.subspan(r.begin, r.end - r.begin));
    }
    return hash_parts(alg, parts);
}

std::vector<Bytes> authenticode_signers(ByteView image) {
    // WIN_CERTIFICATE: dwLength (with this header), wRevision, wCertificateType, then the
    // certificate; entries 8-byte aligned (PE/COFF specification, "The Attribute Certificate Table").
    constexpr std::uint16_t kPkcsSignedData = 0x0002;
    constexpr std::size_t kHeader = 8;
    std::vector<Bytes> out;
    auto headers = read_headers(image);
    if (!headers || headers->certificate_size == 0) return out;
    const ByteView table = image.subspan(headers->certificate_offset, headers->certificate_size);
    std::size_t at = 0;
    while (at + kHeader <= table.size()) {
        const std::size_t length = load_le32(table.data() + at);
        const std::uint16_t type = load_le16(table.data() + at + 6);
        if (length < kHeader || length > table.size() - at) break;
        if (type == kPkcsSignedData) {
            const unsigned char* p = table.data() + at + kHeader;
            ossl::Pkcs7 p7(d2i_PKCS7(nullptr, &p, static_cast<long>(length - kHeader)));
            STACK_OF(X509)* signers = p7 ? PKCS7_get0_signers(p7.get(), nullptr, 0) : nullptr;
            for (int i = 0; signers != nullptr && i < sk_X509_num(signers); ++i) {
                unsigned char* der = nullptr;
                const int n = i2d_X509(sk_X509_value(signers, i), &der);
                if (n > 0) out.emplace_back(der, der + n);
                OPENSSL_free(der);
            }
            sk_X509_free(signers);
            ERR_clear_error();  // a signature that did not parse leaves nothing behind
        }
        at += (length + 7) & ~std::size_t{7};
    }
    return out;
}

}  // namespace cvmunlock
