// Display decoding of event data (PFP 1.05 section 10.4; UEFI 2.10 for
// EFI_LOAD_OPTION and device paths; grub and the Linux EFI stub for tags).
#include "cvmunlock/event_decode.hpp"

#include <openssl/x509.h>

#include <cstdio>
#include <memory>

#include "cvmunlock/uefi_variable.hpp"

namespace cvmunlock {

namespace {
using nlohmann::json;

struct TypeName {
    std::uint32_t type;
    const char* name;
};
constexpr TypeName kTypeNames[] = {
    {0x0, "EV_PREBOOT_CERT"}, {0x1, "EV_POST_CODE"}, {0x2, "EV_UNUSED"}, {0x3, "EV_NO_ACTION"},
    {0x4, "EV_SEPARATOR"}, {0x5, "EV_ACTION"}, {0x6, "EV_EVENT_TAG"}, {0x7, "EV_S_CRTM_CONTENTS"},
    {0x8, "EV_S_CRTM_VERSION"}, {0x9, "EV_CPU_MICROCODE"}, {0xA, "EV_PLATFORM_CONFIG_FLAGS"},
    {0xB, "EV_TABLE_OF_DEVICES"}, {0xC, "EV_COMPACT_HASH"}, {0xD, "EV_IPL"}, {0xE, "EV_IPL_PARTITION_DATA"},
    {0xF, "EV_NONHOST_CODE"}, {0x10, "EV_NONHOST_CONFIG"}, {0x11, "EV_NONHOST_INFO"},
    {0x12, "EV_OMIT_BOOT_DEVICE_EVENTS"}, {0x13, "EV_POST_CODE2"},
    {0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG"}, {0x80000002, "EV_EFI_VARIABLE_BOOT"},
    {0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION"}, {0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER"},
    {0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER"}, {0x80000006, "EV_EFI_GPT_EVENT"},
    {0x80000007, "EV_EFI_ACTION"}, {0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB"},
    {0x80000009, "EV_EFI_HANDOFF_TABLES"}, {0x8000000A, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"},
    {0x8000000B, "EV_EFI_HANDOFF_TABLES2"}, {0x8000000C, "EV_EFI_VARIABLE_BOOT2"},
    {0x8000000D, "EV_EFI_GPT_EVENT2"}, {0x80000010, "EV_EFI_HCRTM_EVENT"},
    {0x800000E0, "EV_EFI_VARIABLE_AUTHORITY"}, {0x800000E1, "EV_EFI_SPDM_FIRMWARE_BLOB"},
    {0x800000E2, "EV_EFI_SPDM_FIRMWARE_CONFIG"},
};

// Linux EFI stub tagged events (drivers/firmware/efi/libstub).
constexpr std::uint32_t kLinuxInitrdTag = 0x8F3B22EC;
constexpr std::uint32_t kLinuxLoadOptionsTag = 0x8F3B22ED;

json malformed(const char* layout, std::size_t size) {
    return json{{"summary", std::string("malformed ") + layout + " (" + std::to_string(size) + " bytes)"},
                {"malformed", true}};
}

// Printable ASCII up to the first NUL; nullopt if anything else appears.
std::optional<std::string> ascii_text(ByteView data) {
    std::string s;
    for (std::size_t i = 0; i < data.size(); ++i) {
        const std::uint8_t c = data[i];
        if (c == 0) {
            for (std::size_t j = i; j < data.size(); ++j) {
                if (data[j] != 0) return std::nullopt;
            }
            break;
        }
        if ((c < 0x20 || c > 0x7e) && c != '\n' && c != '\t') return std::nullopt;
        s.push_back(static_cast<char>(c));
    }
    return s;
}

std::string utf16_bytes_to_utf8(ByteView data) {
    std::u16string s;
    for (std::size_t i = 0; i + 1 < data.size(); i += 2) {
        const char16_t c = static_cast<char16_t>(load_le16(data.data() + i));
        if (c == 0) break;
        s.push_back(c);
    }
    return utf16_to_utf8(s);
}

json text_or_hex(ByteView data) {
    if (auto t = ascii_text(data)) return json{{"summary", *t}, {"text", *t}};
    return json{{"summary", std::to_string(data.size()) + " bytes"}, {"size", data.size()}};
}

// UEFI 2.10 section 10.3: calls node(type, subtype, body) for each node of a
// device path up to its end node (or the first node that does not fit).
template <class Node>
void walk_device_path(ByteView path, Node&& node) {
    Reader r(path);
    while (r.remaining() >= 4) {
        std::uint8_t type = 0;
        std::uint8_t subtype = 0;
        std::uint16_t len = 0;
        r.u8(type);
        r.u8(subtype);
        r.u16(len);
        ByteView body;
        if (len < 4 || !r.take(len - 4u, body)) break;
        if (type == 0x7f) break;  // end of device path
        node(type, subtype, body);
    }
}

constexpr std::uint8_t kMediaDevicePath = 0x04;
constexpr std::uint8_t kMediaFilePath = 0x04;

// A device path as text: media file-path nodes as their path, others as node(type,subtype).
std::string device_path_text(ByteView path) {
    std::string out;
    walk_device_path(path, [&out](std::uint8_t type, std::uint8_t subtype, ByteView body) {
        if (!out.empty()) out += "/";
        if (type == kMediaDevicePath && subtype == kMediaFilePath) {
            out += utf16_bytes_to_utf8(body);
        } else {
            char buf[24];
            std::snprintf(buf, sizeof buf, "node(%u,%u)", type, subtype);
            out += buf;
        }
    });
    return out;
}

// certificate_subject: the subject of an EV_EFI_VARIABLE_AUTHORITY event's
// certificate, whose data is one EFI_SIGNATURE_DATA (owner GUID, then the
// X.509 DER) when the authority was a certificate (UEFI 2.10 32.4.1; shim
// logs its vendor certificate as MokListRT's the same way). Empty for a hash
// or anything that does not parse as exactly one certificate.
std::string certificate_subject(ByteView signature_data) {
    constexpr std::size_t kOwnerSize = 16;
    if (signature_data.size() <= kOwnerSize) return {};
    const unsigned char* p = signature_data.data() + kOwnerSize;
    const long length = static_cast<long>(signature_data.size() - kOwnerSize);
    std::unique_ptr<X509, decltype(&X509_free)> cert(d2i_X509(nullptr, &p, length), X509_free);
    if (!cert || p != signature_data.data() + signature_data.size()) return {};
    const X509_NAME* subject = X509_get_subject_name(cert.get());
    if (subject == nullptr) return {};
    std::string text;
    const int cn = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    unsigned char* utf8 = nullptr;
    const int utf8_length = cn >= 0 ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, cn)))
                               : -1;
    if (utf8_length > 0) {
        text.assign(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(utf8_length));
    } else {
        char line[512] = {};
        if (X509_NAME_oneline(subject, line, sizeof line) != nullptr) text = line;
    }
    OPENSSL_free(utf8);
    // Host-supplied bytes shown in text and JSON: printable ASCII only, one '?'
    // for each other character (UTF-8 from ASN1_STRING_to_UTF8: continuation
    // bytes are dropped, lead bytes become '?').
    std::string shown;
    for (char c : text) {
        const auto b = static_cast<unsigned char>(c);
        if (b >= 0x80 && b < 0xC0) continue;
        shown.push_back(b >= 0x20 && b <= 0x7E ? c : '?');
    }
    return shown;
}

json decode_variable(const Event& ev) {
    auto var = parse_uefi_variable(ev.data);
    if (!var) return malformed("UEFI_VARIABLE_DATA", ev.data.size());
    const std::string name = utf16_to_utf8(var->name);
    json j{{"variable", name}, {"guid", guid_to_string(var->guid)}, {"data_size", var->data.size()}};
    std::string summary = name;
    if ((name == "SecureBoot" || name == "DeployedMode" || name == "AuditMode") && var->data.size() == 1) {
        j["value"] = var->data[0];
        summary += " = " + std::to_string(var->data[0]);
    } else if (name == "BootOrder") {
        json order = json::array();
        char buf[8];
        for (std::size_t i = 0; i + 1 < var->data.size(); i += 2) {
            std::snprintf(buf, sizeof buf, "%04X", load_le16(var->data.data() + i));
            order.push_back(buf);
        }
        summary += " = " + order.dump();
        j["boot_order"] = std::move(order);
    } else if (name.size() == 8 && name.starts_with("Boot") && var->data.size() >= 6) {
        // EFI_LOAD_OPTION: Attributes(4) FilePathListLength(2) Description(CHAR16, NUL-terminated) FilePathList
        Reader r(var->data);
        std::uint32_t attrs = 0;
        std::uint16_t path_len = 0;
        r.u32(attrs);
        r.u16(path_len);
        std::u16string desc;
        std::uint16_t c = 0;
        while (r.u16(c) && c != 0) desc.push_back(static_cast<char16_t>(c));
        j["description"] = utf16_to_utf8(desc);
        ByteView path;
        if (r.take(path_len, path)) j["device_path"] = device_path_text(path);
        summary += ": " + j["description"].get<std::string>();
    } else {
        summary += " (" + std::to_string(var->data.size()) + " bytes)";
        if (ev.type == event_type::kEfiVariableAuthority) {
            const std::string subject = certificate_subject(var->data);
            if (!subject.empty()) {
                j["certificate_subject"] = subject;
                summary += ": " + subject;
            }
        }
    }
    j["summary"] = summary;
    return j;
}

// UEFI_IMAGE_LOAD_EVENT's device path, or nullopt when the data does not fit.
std::optional<ByteView> image_load_device_path(const Event& ev, std::uint64_t& length) {
    // ImageLocationInMemory(8) ImageLengthInMemory(8) ImageLinkTimeAddress(8) LengthOfDevicePath(8) DevicePath[]
    Reader r(ev.data);
    std::uint64_t location = 0;
    std::uint64_t link = 0;
    std::uint64_t path_len = 0;
    ByteView path;
    if (!r.u64(location) || !r.u64(length) || !r.u64(link) || !r.u64(path_len) || path_len > r.remaining() ||
        !r.take(static_cast<std::size_t>(path_len), path)) {
        return std::nullopt;
    }
    return path;
}

json decode_image_load(const Event& ev) {
    std::uint64_t length = 0;
    auto path = image_load_device_path(ev, length);
    if (!path) return malformed("UEFI_IMAGE_LOAD_EVENT", ev.data.size());
    const std::string text = device_path_text(*path);
    return json{{"summary", text.empty() ? "image of " + std::to_string(length) + " bytes" : text},
                {"image_length", length},
                {"device_path", text}};
}

json decode_gpt(const Event& ev) {
    // UEFI_GPT_DATA: UEFI_PARTITION_TABLE_HEADER (92 bytes), NumberOfPartitions(8), entries.
    constexpr std::size_t kHeaderSize = 92;
    constexpr std::size_t kDiskGuidOffset = 56;
    constexpr std::size_t kEntrySizeOffset = 84;
    if (ev.data.size() < kHeaderSize + 8) return malformed("UEFI_GPT_DATA", ev.data.size());
    const std::uint32_t entry_size = load_le32(ev.data.data() + kEntrySizeOffset);
    const std::uint64_t count = load_le64(ev.data.data() + kHeaderSize);
    const std::size_t avail = ev.data.size() - kHeaderSize - 8;
    if (entry_size < 128 || count > avail / entry_size) return malformed("UEFI_GPT_DATA", ev.data.size());
    json j{{"disk_guid", guid_to_string(ByteView(ev.data).subspan(kDiskGuidOffset, 16))}, {"partitions", count}};
    json names = json::array();
    for (std::uint64_t i = 0; i < count; ++i) {
        // Partition entry: type GUID(16) unique GUID(16) first LBA(8) last LBA(8) attrs(8) name(72)
        ByteView entry = ByteView(ev.data).subspan(kHeaderSize + 8 + i * entry_size, entry_size);
        names.push_back(utf16_bytes_to_utf8(entry.subspan(56, 72)));
    }
    j["names"] = names;
    j["summary"] = "GPT with " + std::to_string(count) + " partitions";
    return j;
}

json decode_event_tag(const Event& ev) {
    // TCG_PCClientTaggedEvent: taggedEventID(4) taggedEventDataSize(4) taggedEventData
    Reader r(ev.data);
    std::uint32_t id = 0;
    std::uint32_t size = 0;
    ByteView body;
    if (!r.u32(id) || !r.u32(size) || !r.take(size, body)) return malformed("TCG_PCClientTaggedEvent", ev.data.size());
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", id);
    json j{{"tag", buf}};
    const auto text = ascii_text(body);
    if (id == kLinuxInitrdTag || id == kLinuxLoadOptionsTag) {
        j["linux"] = id == kLinuxInitrdTag ? "initrd" : "load_options";
    }
    if (text) j["text"] = *text;
    j["summary"] = text ? *text : std::string("tag ") + buf;
    return j;
}

json decode_no_action(const Event& ev) {
    if (auto loc = startup_locality_of(ev)) {
        return json{{"summary", "StartupLocality " + std::to_string(*loc)}, {"startup_locality", *loc}};
    }
    if (ev.data.size() >= 16 && ev.data[15] == 0) {
        if (auto t = ascii_text(ByteView(ev.data).first(16)); t && !t->empty()) {
            return json{{"summary", *t}, {"signature", *t}, {"size", ev.data.size()}};
        }
    }
    return text_or_hex(ev.data);
}

json decode_blob(const Event& ev, bool with_description) {
    Reader r(ev.data);
    json j;
    if (with_description) {
        std::uint8_t len = 0;
        ByteView desc;
        if (!r.u8(len) || !r.take(len, desc)) return malformed("UEFI_PLATFORM_FIRMWARE_BLOB2", ev.data.size());
        j["description"] = ascii_text(desc).value_or("");
    }
    std::uint64_t base = 0;
    std::uint64_t length = 0;
    if (!r.u64(base) || !r.u64(length)) return malformed("UEFI_PLATFORM_FIRMWARE_BLOB", ev.data.size());
    char buf[64];
    std::snprintf(buf, sizeof buf, "blob at 0x%llx, %llu bytes", static_cast<unsigned long long>(base),
                  static_cast<unsigned long long>(length));
    j["base"] = base;
    j["length"] = length;
    j["summary"] = with_description && !j["description"].get<std::string>().empty()
                       ? j["description"].get<std::string>() + ": " + buf
                       : std::string(buf);
    return j;
}
}  // namespace

std::string event_type_name(std::uint32_t type) {
    for (const auto& t : kTypeNames) {
        if (t.type == type) return t.name;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "EV_UNKNOWN_0x%08x", type);
    return buf;
}

namespace {
json decode_by_type(const Event& ev) {
    namespace et = event_type;
    switch (ev.type) {
        case et::kNoAction: return decode_no_action(ev);
        case et::kSeparator:
            if (ev.data.size() == 4) {
                const std::uint32_t v = load_le32(ev.data.data());
                char buf[16];
                std::snprintf(buf, sizeof buf, "0x%08x", v);
                return json{{"summary", v == 0 ? "separator" : std::string("separator (error) ") + buf}, {"value", buf}};
            }
            return text_or_hex(ev.data);
        case et::kEfiVariableDriverConfig:
        case et::kEfiVariableBoot:
        case et::kEfiVariableBoot2:
        case et::kEfiVariableAuthority: return decode_variable(ev);
        case et::kEfiBootServicesApplication:
        case et::kEfiBootServicesDriver:
        case et::kEfiRuntimeServicesDriver: return decode_image_load(ev);
        case et::kEfiGptEvent:
        case et::kEfiGptEvent2: return decode_gpt(ev);
        case et::kEventTag: return decode_event_tag(ev);
        case et::kEfiPlatformFirmwareBlob: return decode_blob(ev, false);
        case et::kEfiPlatformFirmwareBlob2: return decode_blob(ev, true);
        case et::kSCrtmVersion: {
            const std::string v = utf16_bytes_to_utf8(ev.data);
            return json{{"summary", v}, {"version", v}};
        }
        default: return text_or_hex(ev.data);
    }
}

}  // namespace

json decode_event_data(const Event& ev) {
    json j = decode_by_type(ev);
    // One line whatever the firmware wrote: control characters become spaces.
    std::string summary = j.value("summary", std::string());
    for (char& c : summary) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    }
    j["summary"] = std::move(summary);
    return j;
}

std::optional<std::string> image_file_path(const Event& event) {
    if (event.type != event_type::kEfiBootServicesApplication) return std::nullopt;
    std::uint64_t length = 0;
    auto path = image_load_device_path(event, length);
    if (!path) return std::nullopt;
    std::optional<std::string> file;
    walk_device_path(*path, [&file](std::uint8_t type, std::uint8_t subtype, ByteView body) {
        if (type == kMediaDevicePath && subtype == kMediaFilePath) file = utf16_bytes_to_utf8(body);
    });
    return file;
}

std::string describe_event(const EventLog& log, std::size_t index) {
    if (index >= log.events.size()) return "#" + std::to_string(index) + " (no such event)";
    const Event& ev = log.events[index];
    return "#" + std::to_string(index) + " " + event_type_name(ev.type) + ": " +
           decode_event_data(ev).value("summary", std::string());
}

}  // namespace cvmunlock
