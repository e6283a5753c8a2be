#include "cvmunlock/predict.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <array>
#include <optional>
#include <set>

#include "cvmunlock/authenticode.hpp"
#include "cvmunlock/event_decode.hpp"
#include "cvmunlock/hash.hpp"
#include "cvmunlock/uefi_variable.hpp"
#include "ossl_ptr.hpp"

namespace cvmunlock {

namespace {
constexpr std::uint32_t kBootChainPcr = 4;
constexpr std::uint32_t kSecureBootPolicyPcr = 7;
// UEFI_VARIABLE_DATA: VariableName GUID(16), UnicodeNameLength(8), VariableDataLength(8), then the name.
constexpr std::size_t kVariableHeader = 32;

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

bool is_secure_boot_policy_variable(const std::string& name) {
    static const std::array<std::string, 6> kNames = {"PK", "KEK", "db", "dbx", "dbt", "dbr"};
    for (const std::string& n : kNames) {
        if (n == name) return true;
    }
    return false;
}

namespace {
// The entries of a list of EFI_SIGNATURE_LISTs (UEFI 2.10 32.4.1: SignatureType
// GUID, SignatureListSize, SignatureHeaderSize, SignatureSize, the header, then
// EFI_SIGNATURE_DATA entries: owner GUID and data), each as its type and data
// (the owner does not change what is revoked). nullopt when malformed.
std::optional<std::set<Bytes>> signature_entries(ByteView lists) {
    std::set<Bytes> out;
    Reader r(lists);
    while (r.remaining() > 0) {
        ByteView type;
        std::uint32_t list_size = 0, header_size = 0, entry_size = 0;
        if (!r.take(16, type) || !r.u32(list_size) || !r.u32(header_size) || !r.u32(entry_size)) return std::nullopt;
        if (list_size < 28 || list_size - 28 > r.remaining() || header_size > list_size - 28) return std::nullopt;
        const std::uint32_t entries_size = list_size - 28 - header_size;
        if (entry_size <= 16 || entries_size % entry_size != 0) return std::nullopt;
        ByteView skip;
        r.take(header_size, skip);
        for (std::uint32_t n = 0; n < entries_size / entry_size; ++n) {
            ByteView entry;
            r.take(entry_size, entry);
            Bytes key(type.begin(), type.end());
            key.insert(key.end(), entry.begin() + 16, entry.end());
            out.insert(std::move(key));
        }
    }
    return out;
}

// The certificates of this boot's PCR 7 authority events (db's entry that
// verified shim, shim's vendor certificate or MokList entry that verified grub
// and the kernel): each event's data is one EFI_SIGNATURE_DATA, an owner GUID
// and, for a certificate, its DER.
std::vector<ossl::X509Ptr> authority_certificates(const EventLog& log) {
    constexpr std::size_t kOwnerSize = 16;
    std::vector<ossl::X509Ptr> out;
    for (const Event& ev : log.events) {
        if (ev.pcr != kSecureBootPolicyPcr || ev.type != event_type::kEfiVariableAuthority) continue;
        auto var = parse_uefi_variable(ev.data);
        if (!var || var->data.size() <= kOwnerSize) continue;
        const unsigned char* p = var->data.data() + kOwnerSize;
        ossl::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(var->data.size() - kOwnerSize)));
        if (cert) out.push_back(std::move(cert));
    }
    ERR_clear_error();
    return out;
}

// A name for messages: its one-line form, printable ASCII only (it comes from a file).
std::string name_text(const X509_NAME* name) {
    char line[256] = {};
    if (name == nullptr || X509_NAME_oneline(name, line, sizeof line) == nullptr) return "?";
    std::string out;
    for (const char* c = line; *c != 0; ++c) out.push_back(*c >= 0x20 && *c < 0x7f ? *c : '?');
    return out;
}

// PCR 7 is replayed unchanged, which holds only if the next image is verified
// under an authority this boot already logged: one of its signers is, or is
// issued by, an authority event's certificate (names compared; the firmware and
// shim do the verifying). A signed image under another authority adds an event
// no log predicts: refused, naming it. Unsigned images, and boots that logged
// no certificate authority (Secure Boot off), are not checked.
Result<void> check_same_authority(const std::vector<ossl::X509Ptr>& authorities, const std::string& name,
                                  ByteView next) {
    if (authorities.empty()) return {};
    const std::vector<Bytes> signers = authenticode_signers(next);
    if (signers.empty()) return {};
    std::string issuers;
    for (const Bytes& der : signers) {
        const unsigned char* p = der.data();
        ossl::X509Ptr signer(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
        if (!signer) continue;
        for (const auto& authority : authorities) {
            if (X509_cmp(signer.get(), authority.get()) == 0 ||
                X509_NAME_cmp(X509_get_issuer_name(signer.get()), X509_get_subject_name(authority.get())) == 0) {
                return {};
            }
        }
        issuers += (issuers.empty() ? "" : "; ") + name_text(X509_get_issuer_name(signer.get()));
    }
    ERR_clear_error();
    std::string logged;
    for (const auto& authority : authorities) {
        logged += (logged.empty() ? "" : "; ") + name_text(X509_get_subject_name(authority.get()));
    }
    return fail(ErrorCode::PolicyRefused,
                name + " is signed under " + (issuers.empty() ? "a certificate that does not parse" : issuers) +
                    ", an authority this boot did not use (its PCR 7 authority events: " + logged +
                    "): the next boot's PCR 7 gains an authority event that cannot be predicted; after this update, "
                    "enroll again with the recovery key or sign the new values (sign-policy)");
}

// File paths on FAT compare without case.
bool same_path(const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

// Puts the next image's hash into each PCR 4 event that loaded the file.
Result<void> replace_esp_image(EventLog& next, const EspImage& u, const std::vector<HashAlg>& banks,
                               std::vector<ReplacedEvent>& replaced) {
    std::map<HashAlg, Bytes> will_be;
    for (HashAlg bank : banks) {
        auto d = authenticode_digest(u.next, bank);
        if (!d) return fail(d.error().code, u.file + ": " + d.error().message);
        will_be[bank] = std::move(*d);
    }
    bool found = false;
    for (std::size_t i = 0; i < next.events.size(); ++i) {
        Event& ev = next.events[i];
        if (ev.pcr != kBootChainPcr) continue;
        auto path = image_file_path(ev);
        if (!path || !same_path(*path, u.logged_path)) continue;
        ReplacedEvent r{i, ev.pcr, u.file, {}, {}, {}};
        for (auto& d : ev.digests) {
            auto alg = hash_alg_from_id(d.alg_id);
            if (!alg || !will_be.contains(*alg)) continue;
            r.logged[*alg] = d.digest;
            d.digest = will_be[*alg];
            r.predicted[*alg] = d.digest;
        }
        found = true;
        replaced.push_back(std::move(r));
    }
    if (!found) {
        return fail(ErrorCode::NotFound, "no PCR 4 event of this boot's log loaded " + u.logged_path +
                                             ": the next boot cannot be predicted from this log");
    }
    return {};
}

// Firmware-held content: only a dbx that kept every logged entry (VariableUpdate).
Result<void> check_firmware_content(const VariableUpdate& u, ByteView logged) {
    if (u.name != "dbx") {
        return fail(ErrorCode::PolicyRefused,
                    u.name + " as the firmware now holds it (" + u.source + ") is not predicted from: the host controls "
                    "a confidential VM's variable store; give the " + u.name + " update you checked as a file "
                    "(--efi-variable " + u.name + "=FILE)");
    }
    auto before = signature_entries(logged);
    auto after = signature_entries(u.data);
    if (!before) return fail(ErrorCode::InvalidInput, "this boot's logged dbx is not a list of EFI_SIGNATURE_LISTs");
    if (!after) return fail(ErrorCode::InvalidInput, u.source + ": not a list of EFI_SIGNATURE_LISTs");
    std::size_t removed = 0;
    for (const Bytes& e : *before) removed += after->contains(e) ? 0 : 1;
    if (removed > 0) {
        return fail(ErrorCode::PolicyRefused,
                    "dbx as the firmware now holds it (" + u.source + ") lacks " + std::to_string(removed) + " of the " +
                        std::to_string(before->size()) + " entries this boot's dbx had: a revocation list only grows; "
                        "an update that removes entries comes only from a file you checked (--efi-variable dbx=FILE)");
    }
    return {};
}

// Rebuilds each PCR 7 EV_EFI_VARIABLE_DRIVER_CONFIG event of the variable with
// its next content; the digest keeps the convention the logged one used (the
// whole UEFI_VARIABLE_DATA, as the PFP says, or VariableData alone).
Result<void> replace_variable(EventLog& next, const VariableUpdate& u, std::vector<ReplacedEvent>& replaced) {
    if (!is_secure_boot_policy_variable(u.name)) {
        return fail(ErrorCode::InvalidInput, "'" + u.name + "' is not a Secure Boot policy variable (PK, KEK, db, dbx, "
                                             "dbt or dbr): only those are predicted");
    }
    bool found = false;
    for (std::size_t i = 0; i < next.events.size(); ++i) {
        Event& ev = next.events[i];
        if (ev.pcr != kSecureBootPolicyPcr || ev.type != event_type::kEfiVariableDriverConfig) continue;
        auto var = parse_uefi_variable(ev.data);
        if (!var || utf16_to_utf8(var->name) != u.name) continue;
        if (u.from_firmware) {
            if (auto ok = check_firmware_content(u, var->data); !ok) return ok;
        }
        const std::size_t name_bytes = ev.data.size() - kVariableHeader - var->data.size();
        Bytes data(ev.data.begin(), ev.data.begin() + 24);  // GUID and UnicodeNameLength
        append_le64(data, u.data.size());
        data.insert(data.end(), ev.data.begin() + kVariableHeader, ev.data.begin() + kVariableHeader + name_bytes);
        data.insert(data.end(), u.data.begin(), u.data.end());
        ReplacedEvent r{i, ev.pcr, u.source, u.name, {}, {}};
        for (auto& d : ev.digests) {
            auto alg = hash_alg_from_id(d.alg_id);
            if (!alg) continue;
            auto whole = hash_bytes(*alg, ev.data);
            auto part = hash_bytes(*alg, var->data);
            if (!whole || !part) return std::unexpected(!whole ? whole.error() : part.error());
            if (d.digest != *whole && d.digest != *part) {
                return fail(ErrorCode::InvalidInput, "event " + std::to_string(i) + " (PCR 7, " + u.name + "): its " +
                                                         std::string(hash_alg_name(*alg)) +
                                                         " digest is not that of its data; cannot predict it");
            }
            auto now = hash_bytes(*alg, d.digest == *whole ? ByteView(data) : u.data);
            if (!now) return std::unexpected(now.error());
            r.logged[*alg] = d.digest;
            d.digest = std::move(*now);
            r.predicted[*alg] = d.digest;
        }
        ev.data = std::move(data);
        found = true;
        replaced.push_back(std::move(r));
    }
    if (!found) {
        return fail(ErrorCode::NotFound, "no PCR 7 EV_EFI_VARIABLE_DRIVER_CONFIG event of this boot's log measured " +
                                             u.name + ": the next boot cannot be predicted from this log");
    }
    return {};
}
}  // namespace

std::vector<std::string> boot_chain_files(const EventLog& log) {
    std::vector<std::string> out;
    for (const Event& ev : log.events) {
        if (ev.pcr != kBootChainPcr) continue;
        auto path = image_file_path(ev);
        if (!path) continue;
        bool seen = false;
        for (const std::string& p : out) seen = seen || same_path(p, *path);
        if (!seen) out.push_back(*path);
    }
    return out;
}

Result<Prediction> predict_next_boot(const EventLog& log, const BootUpdates& updates) {
    auto current = replay_event_log(log);
    if (!current) return std::unexpected(current.error());
    EventLog next = log;
    Prediction out;
    out.current = current->banks;
    const std::vector<HashAlg> banks = banks_of(log);
    const std::vector<ossl::X509Ptr> authorities = authority_certificates(log);
    for (const ImageUpdate& u : updates.images) {
        if (auto st = check_same_authority(authorities, u.next_name, u.next); !st) return std::unexpected(st.error());
    }
    for (const EspImage& u : updates.esp_images) {
        if (auto st = check_same_authority(authorities, u.file, u.next); !st) return std::unexpected(st.error());
    }
    for (const ImageUpdate& u : updates.images) {
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
            ReplacedEvent r{i, ev.pcr, u.current_name, {}, {}, {}};
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
    for (const EspImage& u : updates.esp_images) {
        if (auto st = replace_esp_image(next, u, banks, out.replaced); !st) return std::unexpected(st.error());
    }
    for (const VariableUpdate& u : updates.variables) {
        if (auto st = replace_variable(next, u, out.replaced); !st) return std::unexpected(st.error());
    }
    auto predicted = replay_event_log(next);
    if (!predicted) return std::unexpected(predicted.error());
    out.predicted = predicted->banks;
    return out;
}

}  // namespace cvmunlock
