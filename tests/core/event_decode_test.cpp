#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <set>

#include "cvmunlock/event_decode.hpp"
#include "test_data.hpp"

namespace cvmunlock {
namespace {

std::string summary_of(const EventLog& log, std::size_t i) {
    return decode_event_data(log.events.at(i))["summary"].get<std::string>();
}

TEST(EventDecode, RealLogsDecodeTheCommonTypes) {
    auto log = parse_event_log(testing::read_data("eventlog/go-tpm-tools/gdc-host.bin"));
    ASSERT_TRUE(log.has_value());
    EXPECT_EQ(summary_of(*log, 1), "StartupLocality 3");
    EXPECT_EQ(summary_of(*log, 9), "SecureBoot = 0");
    std::set<std::string> types;
    for (const auto& ev : log->events) {
        const auto j = decode_event_data(ev);
        ASSERT_TRUE(j.contains("summary"));
        EXPECT_FALSE(j.contains("malformed")) << event_type_name(ev.type);
        types.insert(event_type_name(ev.type));
    }
    EXPECT_TRUE(types.contains("EV_EFI_BOOT_SERVICES_APPLICATION"));
    EXPECT_TRUE(types.contains("EV_EFI_GPT_EVENT"));
    EXPECT_TRUE(types.contains("EV_EVENT_TAG"));
}

TEST(EventDecode, LinuxInitrdTagIsNamed) {
    auto log = parse_event_log(testing::read_data("eventlog/go-tpm-tools/gdc-host.bin"));
    ASSERT_TRUE(log.has_value());
    bool initrd = false;
    for (const auto& ev : log->events) {
        if (ev.type != event_type::kEventTag) continue;
        const auto j = decode_event_data(ev);
        initrd |= j.value("linux", "") == "initrd" && j.value("text", "") == "Linux initrd";
    }
    EXPECT_TRUE(initrd);
}

TEST(EventDecode, TruncatedDataIsShownAsMalformed) {
    auto log = parse_event_log(testing::read_data("eventlog/go-tpm-tools/gdc-host.bin"));
    ASSERT_TRUE(log.has_value());
    for (const auto& original : log->events) {
        for (std::size_t keep : {std::size_t{0}, std::size_t{3}, original.data.size() / 2}) {
            Event ev = original;
            ev.data.resize(std::min(keep, ev.data.size()));
            const auto j = decode_event_data(ev);  // must not crash or throw
            EXPECT_TRUE(j.contains("summary"));
        }
    }
    Event var;
    var.type = event_type::kEfiVariableDriverConfig;
    var.data = Bytes(40, 0xFF);
    EXPECT_TRUE(decode_event_data(var).value("malformed", false));
    EXPECT_EQ(event_type_name(0x1234), "EV_UNKNOWN_0x00001234");
}

// A DER certificate with this common name (self-signed, EC P-256), given as
// bytes of an ASN.1 string of `type` (V_ASN1_UTF8STRING, V_ASN1_T61STRING, ...).
Bytes certificate_der(const char* common_name, int type = MBSTRING_ASC) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"),
                                                           EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
    EXPECT_TRUE(key && cert);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", type, reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_set_pubkey(cert.get(), key.get());
    EXPECT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
    unsigned char* der = nullptr;
    const int len = i2d_X509(cert.get(), &der);
    EXPECT_GT(len, 0);
    Bytes out(der, der + len);
    OPENSSL_free(der);
    return out;
}

// UEFI_VARIABLE_DATA for an EV_EFI_VARIABLE_AUTHORITY event: the variable the
// authority came from and one EFI_SIGNATURE_DATA (owner GUID, then the data).
Event authority_event(const std::u16string& variable, const Bytes& signature) {
    Bytes value;
    value.reserve(16 + signature.size());
    value.resize(16, 0x5A);  // EFI_SIGNATURE_DATA.SignatureOwner
    for (std::uint8_t b : signature) value.push_back(b);
    Bytes data;
    data.reserve(48 + 2 * variable.size() + value.size());
    data.resize(16, 0xA5);  // the variable's GUID
    auto le64 = [&data](std::uint64_t v) {
        for (int i = 0; i < 8; ++i) data.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    };
    le64(variable.size());
    le64(value.size());
    for (char16_t c : variable) {
        data.push_back(static_cast<std::uint8_t>(c & 0xff));
        data.push_back(static_cast<std::uint8_t>(c >> 8));
    }
    for (std::uint8_t b : value) data.push_back(b);
    Event ev;
    ev.pcr = 7;
    ev.type = event_type::kEfiVariableAuthority;
    ev.data = std::move(data);
    return ev;
}

TEST(EventDecode, AuthorityEventsNameTheCertificateThatVerifiedTheImage) {
    const Bytes der = certificate_der("Test Secure Boot CA 2026");
    auto j = decode_event_data(authority_event(u"MokListRT", der));
    EXPECT_EQ(j.value("variable", ""), "MokListRT");
    EXPECT_EQ(j.value("certificate_subject", ""), "Test Secure Boot CA 2026");
    EXPECT_EQ(j["summary"], "MokListRT (" + std::to_string(16 + der.size()) + " bytes): Test Secure Boot CA 2026");

    // A hash authority, a truncated certificate, trailing bytes: no subject, no error.
    for (const Bytes& data : {Bytes(32, 0x11), Bytes(der.begin(), der.end() - 1), [&der] {
             Bytes longer = der;
             longer.push_back(0);
             return longer;
         }()}) {
        j = decode_event_data(authority_event(u"db", data));
        EXPECT_FALSE(j.contains("certificate_subject")) << j.dump();
        EXPECT_EQ(j["summary"], "db (" + std::to_string(16 + data.size()) + " bytes)");
    }
    // A subject that is not printable ASCII (here: a T61String with 0xFF, as the
    // fuzzer found) is shown with '?' and the JSON stays valid UTF-8.
    j = decode_event_data(authority_event(u"db", certificate_der("CA \xff\x01 2026", V_ASN1_T61STRING)));
    EXPECT_NO_THROW((void)j.dump());
    EXPECT_EQ(j.value("certificate_subject", ""), "CA ?? 2026") << j.dump(-1, ' ', true);

    // The same data in a driver-config event is the variable's content, not an authority.
    Event config = authority_event(u"db", der);
    config.type = event_type::kEfiVariableDriverConfig;
    EXPECT_FALSE(decode_event_data(config).contains("certificate_subject"));
}

}  // namespace
}  // namespace cvmunlock
