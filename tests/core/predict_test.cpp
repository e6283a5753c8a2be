#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include <memory>

#include "cvmunlock/authenticode.hpp"
#include "cvmunlock/hash.hpp"
#include "cvmunlock/predict.hpp"
#include "cvmunlock/uefi_variable.hpp"
#include "sample_pe.hpp"
#include "test_data.hpp"

namespace cvmunlock {
namespace {

// A real SEV-SNP guest's log in which the PCR 4 events of one image (its
// first two application events) are made to carry the image hash of `image`
// in every bank, as if the firmware and shim had loaded it.
struct BootWithImage {
    EventLog log;
    std::vector<std::size_t> events;
    explicit BootWithImage(const Bytes& image) {
        auto parsed = parse_event_log(testing::read_data("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin"));
        EXPECT_TRUE(parsed.has_value());
        log = std::move(*parsed);
        for (std::size_t i = 0; i < log.events.size() && events.size() < 2; ++i) {
            Event& ev = log.events[i];
            if (ev.pcr != 4 || ev.type != event_type::kEfiBootServicesApplication) continue;
            for (auto& d : ev.digests) d.digest = *authenticode_digest(image, *hash_alg_from_id(d.alg_id));
            events.push_back(i);
        }
        EXPECT_EQ(events.size(), 2u);
    }
};

TEST(Predict, ReplacesTheImagesEventsInEveryBankAndReplays) {
    const Bytes a = testing::sample_pe_image(1);
    const Bytes b = testing::sample_pe_image(2);
    BootWithImage boot(a);
    auto p = predict_next_boot(boot.log, {.images = {{"/boot/vmlinuz-old", a, "/boot/vmlinuz-new", b}}});
    ASSERT_TRUE(p.has_value()) << p.error().message;
    ASSERT_EQ(p->replaced.size(), 2u);
    EXPECT_EQ(p->replaced[0].index, boot.events[0]);
    EXPECT_EQ(p->replaced[1].index, boot.events[1]);
    EXPECT_EQ(p->replaced[0].predicted.at(HashAlg::Sha256), *authenticode_digest(b, HashAlg::Sha256));

    // The expected next boot: the same log with b's hash in those events.
    BootWithImage next(b);
    auto expected = replay_event_log(next.log);
    ASSERT_TRUE(expected.has_value());
    EXPECT_EQ(p->predicted, expected->banks);
    for (const auto& [bank, pcrs] : p->predicted) {
        for (const auto& [pcr, value] : pcrs) {
            if (pcr == 4) {
                EXPECT_NE(value, p->current.at(bank).at(pcr)) << hash_alg_name(bank);
            } else {
                EXPECT_EQ(value, p->current.at(bank).at(pcr)) << "PCR " << pcr;
            }
        }
    }
}

TEST(Predict, AnImageThisBootDidNotLoadCannotBePredicted) {
    const Bytes a = testing::sample_pe_image(1);
    const Bytes other = testing::sample_pe_image(3);
    BootWithImage boot(a);
    auto p = predict_next_boot(boot.log, {.images = {{"/boot/vmlinuz-running", other, "/boot/vmlinuz-new", a}}});
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code, ErrorCode::NotFound);
    EXPECT_NE(p.error().message.find("no PCR 4 event of this boot's log measured /boot/vmlinuz-running"),
              std::string::npos)
        << p.error().message;

    Bytes broken = a;
    broken[0] = 'X';
    p = predict_next_boot(boot.log, {.images = {{"/boot/vmlinuz-running", a, "/tmp/not-a-kernel", broken}}});
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(p.error().message.find("/tmp/not-a-kernel: not a PE image"), std::string::npos) << p.error().message;
}

TEST(Predict, AnEspFileReplacedInPlaceIsFoundByThePathTheLogNames) {
    const Bytes a = testing::sample_pe_image(1);
    const Bytes b = testing::sample_pe_image(2);
    BootWithImage boot(a);  // events 25 (\EFI\ubuntu\shimx64.efi) and 30 (\EFI\ubuntu\grubx64.efi)
    const std::vector<std::string> files = boot_chain_files(boot.log);
    ASSERT_EQ(files.size(), 2u);
    EXPECT_EQ(files[0], "\\EFI\\ubuntu\\shimx64.efi");
    EXPECT_EQ(files[1], "\\EFI\\ubuntu\\grubx64.efi");

    // grub replaced on the ESP (FAT: the case of the path does not matter).
    auto p = predict_next_boot(boot.log, {.esp_images = {{"\\efi\\UBUNTU\\grubx64.EFI", "/boot/efi/EFI/ubuntu/grubx64.efi", b}}});
    ASSERT_TRUE(p.has_value()) << p.error().message;
    ASSERT_EQ(p->replaced.size(), 1u);
    EXPECT_EQ(p->replaced[0].index, boot.events[1]);
    EXPECT_EQ(p->replaced[0].image, "/boot/efi/EFI/ubuntu/grubx64.efi");
    EventLog expected_log = boot.log;
    for (auto& d : expected_log.events[boot.events[1]].digests) {
        d.digest = *authenticode_digest(b, *hash_alg_from_id(d.alg_id));
    }
    auto expected = replay_event_log(expected_log);
    ASSERT_TRUE(expected.has_value());
    EXPECT_EQ(p->predicted, expected->banks);
    EXPECT_NE(p->predicted.at(HashAlg::Sha256).at(4), p->current.at(HashAlg::Sha256).at(4));

    // The same files: this boot.
    p = predict_next_boot(boot.log, {.esp_images = {{files[0], "shim", a}, {files[1], "grub", a}}});
    ASSERT_TRUE(p.has_value()) << p.error().message;
    EXPECT_EQ(p->predicted, p->current);

    p = predict_next_boot(boot.log, {.esp_images = {{"\\EFI\\BOOT\\BOOTX64.EFI", "bootx64", a}}});
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code, ErrorCode::NotFound);
}

// A key and a certificate for it, issued by `issuer` (nullptr: self-signed) under `subject_name`.
struct TestCert {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{EVP_EC_gen("P-256"), EVP_PKEY_free};
    std::unique_ptr<X509, decltype(&X509_free)> cert{X509_new(), X509_free};
    TestCert(X509_NAME* subject_name, const TestCert* issuer) {
        X509_set_version(cert.get(), 2);
        ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 7);
        X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
        X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
        X509_set_subject_name(cert.get(), subject_name);
        X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer->cert.get()) : subject_name);
        X509_set_pubkey(cert.get(), key.get());
        X509_sign(cert.get(), issuer ? issuer->key.get() : key.get(), EVP_sha256());
    }
};

std::unique_ptr<X509_NAME, decltype(&X509_NAME_free)> common_name(const char* cn) {
    std::unique_ptr<X509_NAME, decltype(&X509_NAME_free)> name(X509_NAME_new(), X509_NAME_free);
    X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    return name;
}

// The sample image with an Authenticode-shaped signature by `signer`: a PKCS#7
// SignedData in a WIN_CERTIFICATE (revision 2.0, PKCS_SIGNED_DATA) as its
// certificate table. The image hash does not cover the table.
Bytes signed_image(std::uint8_t seed, const TestCert& signer) {
    Bytes image = testing::sample_pe_image(seed);
    std::unique_ptr<BIO, decltype(&BIO_free)> content(BIO_new_mem_buf(image.data(), 0x680), BIO_free);
    std::unique_ptr<PKCS7, decltype(&PKCS7_free)> p7(
        PKCS7_sign(signer.cert.get(), signer.key.get(), nullptr, content.get(), PKCS7_BINARY | PKCS7_DETACHED),
        PKCS7_free);
    EXPECT_NE(p7, nullptr);
    unsigned char* der = nullptr;
    const int n = i2d_PKCS7(p7.get(), &der);
    EXPECT_GT(n, 0);
    image.resize(0x680);
    const std::size_t length = 8 + static_cast<std::size_t>(n);
    append_le32(image, static_cast<std::uint32_t>(length));
    image.push_back(0x00);  // wRevision 0x0200
    image.push_back(0x02);
    image.push_back(0x02);  // wCertificateType 0x0002
    image.push_back(0x00);
    image.insert(image.end(), der, der + n);
    OPENSSL_free(der);
    image.resize(0x680 + ((length + 7) & ~std::size_t{7}), 0);
    testing::put32(image, testing::kPeCertEntry + 4, static_cast<std::uint32_t>(image.size() - 0x680));
    return image;
}

// The next image must be verified under an authority this boot logged in PCR 7
// (the QEMU shim-grub boot: Microsoft's UEFI CA 2011 in db, Debian's Secure
// Boot CA as shim's vendor certificate); a signer issued by another CA adds an
// authority event that no log predicts.
TEST(Predict, AnImageSignedUnderAnAuthorityThisBootDidNotUseIsRefused) {
    auto log = parse_event_log(testing::read_data("eventlog/qemu/shim-grub.bin"));
    ASSERT_TRUE(log.has_value());
    // The authority event's certificate that verified grub and the kernel (MokListRT: Debian Secure Boot CA).
    X509* debian_ca = nullptr;
    for (const Event& ev : log->events) {
        auto var = ev.type == event_type::kEfiVariableAuthority ? parse_uefi_variable(ev.data) : std::nullopt;
        if (!var || utf16_to_utf8(var->name) != "MokListRT") continue;
        const unsigned char* p = var->data.data() + 16;
        debian_ca = d2i_X509(nullptr, &p, static_cast<long>(var->data.size() - 16));
    }
    ASSERT_NE(debian_ca, nullptr);
    std::unique_ptr<X509, decltype(&X509_free)> debian_ca_owner(debian_ca, X509_free);

    // The running kernel: image 1's hash in the log's last PCR 4 application event.
    const Bytes running = testing::sample_pe_image(1);
    std::size_t kernel_event = 0;
    for (std::size_t i = 0; i < log->events.size(); ++i) {
        if (log->events[i].pcr == 4 && log->events[i].type == event_type::kEfiBootServicesApplication) kernel_event = i;
    }
    for (auto& d : log->events[kernel_event].digests) d.digest = *authenticode_digest(running, *hash_alg_from_id(d.alg_id));

    // Signed by a key whose CA has the Debian CA's name: the same authority event; predicted.
    TestCert same_ca(X509_get_subject_name(debian_ca), nullptr);
    TestCert same_signer(common_name("cvmunlock test kernel signer").get(), &same_ca);
    const Bytes next_same = signed_image(2, same_signer);
    ASSERT_EQ(authenticode_signers(next_same).size(), 1u);
    auto p = predict_next_boot(*log, {.images = {{"/boot/vmlinuz-old", running, "/boot/vmlinuz-new", next_same}}});
    ASSERT_TRUE(p.has_value()) << p.error().message;
    EXPECT_NE(p->predicted.at(HashAlg::Sha256).at(4), p->current.at(HashAlg::Sha256).at(4));

    // Signed under another CA: refused, naming the issuer and the authorities this boot logged.
    TestCert other_ca(common_name("cvmunlock test CA 2030").get(), nullptr);
    TestCert other_signer(common_name("cvmunlock test kernel signer").get(), &other_ca);
    p = predict_next_boot(*log, {.images = {{"/boot/vmlinuz-old", running, "/boot/vmlinuz-new",
                                              signed_image(2, other_signer)}}});
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code, ErrorCode::PolicyRefused);
    EXPECT_NE(p.error().message.find("/boot/vmlinuz-new is signed under /CN=cvmunlock test CA 2030"), std::string::npos)
        << p.error().message;
    EXPECT_NE(p.error().message.find("Debian Secure Boot CA"), std::string::npos) << p.error().message;
    EXPECT_NE(p.error().message.find("Microsoft Corporation UEFI CA 2011"), std::string::npos) << p.error().message;

    // The same check for a file found on the ESP.
    p = predict_next_boot(*log, {.esp_images = {{"\\EFI\\BOOT\\grubx64.efi", "/boot/efi/EFI/BOOT/grubx64.efi",
                                                  signed_image(3, other_signer)}}});
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code, ErrorCode::PolicyRefused);

    // An unsigned image (the sample images elsewhere here) is not checked.
    p = predict_next_boot(*log, {.images = {{"/boot/vmlinuz-old", running, "/boot/vmlinuz-new",
                                              testing::sample_pe_image(2)}}});
    EXPECT_TRUE(p.has_value()) << p.error().message;
}

// The real log's PCR 7 event for `name`, its index.
std::size_t variable_event(const EventLog& log, const std::string& name) {
    for (std::size_t i = 0; i < log.events.size(); ++i) {
        const Event& ev = log.events[i];
        if (ev.pcr != 7 || ev.type != event_type::kEfiVariableDriverConfig) continue;
        auto var = parse_uefi_variable(ev.data);
        if (var && utf16_to_utf8(var->name) == name) return i;
    }
    ADD_FAILURE() << "no " << name << " event";
    return 0;
}

TEST(Predict, ADbxUpdateRebuildsItsVariableEventAndChangesOnlyPcr7) {
    auto log = parse_event_log(testing::read_data("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin"));
    ASSERT_TRUE(log.has_value());
    const std::size_t at = variable_event(*log, "dbx");
    auto old = parse_uefi_variable(log->events[at].data);
    ASSERT_TRUE(old.has_value());
    // The next dbx: this one with one more EFI_SIGNATURE_LIST (one SHA-256 entry).
    Bytes next(old->data.begin(), old->data.end());
    const Bytes sha256_guid = {0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
                               0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28};
    next.insert(next.end(), sha256_guid.begin(), sha256_guid.end());
    append_le32(next, 28 + 48);
    append_le32(next, 0);
    append_le32(next, 48);
    next.insert(next.end(), 48, 0x5a);

    auto p = predict_next_boot(*log, {.variables = {{"dbx", "dbx.esl", next}}});
    ASSERT_TRUE(p.has_value()) << p.error().message;
    ASSERT_EQ(p->replaced.size(), 1u);
    EXPECT_EQ(p->replaced[0].index, at);
    EXPECT_EQ(p->replaced[0].variable, "dbx");
    EXPECT_EQ(p->replaced[0].image, "dbx.esl");

    // The expected event, built by hand: GUID, name length, the new data length, "dbx", the data.
    Bytes data(log->events[at].data.begin(), log->events[at].data.begin() + 24);
    append_le64(data, next.size());
    for (char c : std::string("dbx")) {
        data.push_back(static_cast<std::uint8_t>(c));
        data.push_back(0);
    }
    data.insert(data.end(), next.begin(), next.end());
    EventLog expected_log = *log;
    expected_log.events[at].data = data;
    for (auto& d : expected_log.events[at].digests) d.digest = *hash_bytes(*hash_alg_from_id(d.alg_id), data);
    EXPECT_EQ(p->replaced[0].predicted.at(HashAlg::Sha256), *hash_bytes(HashAlg::Sha256, data));
    auto expected = replay_event_log(expected_log);
    ASSERT_TRUE(expected.has_value());
    EXPECT_EQ(p->predicted, expected->banks);
    for (const auto& [bank, pcrs] : p->predicted) {
        for (const auto& [pcr, value] : pcrs) {
            if (pcr == 7) {
                EXPECT_NE(value, p->current.at(bank).at(pcr)) << hash_alg_name(bank);
            } else {
                EXPECT_EQ(value, p->current.at(bank).at(pcr)) << "PCR " << pcr;
            }
        }
    }

    // The same content again: the same PCR 7.
    auto same = predict_next_boot(*log, {.variables = {{"dbx", "firmware", old->data}}});
    ASSERT_TRUE(same.has_value()) << same.error().message;
    EXPECT_EQ(same->predicted, same->current);
}

// In a confidential VM the host controls the firmware's variable store: what the
// firmware holds is taken only for a dbx that kept every entry this boot's had.
TEST(Predict, FirmwareHeldContentIsTakenOnlyForADbxThatGrew) {
    auto log = parse_event_log(testing::read_data("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin"));
    ASSERT_TRUE(log.has_value());
    auto dbx = parse_uefi_variable(log->events[variable_event(*log, "dbx")].data);
    ASSERT_TRUE(dbx.has_value());
    ASSERT_GT(dbx->data.size(), 28u);
    const Bytes logged(dbx->data.begin(), dbx->data.end());
    // One more list: the firmware's dbx grew.
    Bytes grown = logged;
    const Bytes list = {0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40, 0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93,
                        0x43, 0x28, 76,   0,    0,    0,    0,    0,    0,    0,    48,   0,    0,    0};
    grown.insert(grown.end(), list.begin(), list.end());
    grown.insert(grown.end(), 48, 0x77);
    auto p = predict_next_boot(*log, {.variables = {{"dbx", "/sys/firmware/efi/efivars/dbx", grown, true}}});
    ASSERT_TRUE(p.has_value()) << p.error().message;
    EXPECT_NE(p->predicted.at(HashAlg::Sha256).at(7), p->current.at(HashAlg::Sha256).at(7));

    // Only the new list: every entry this boot's dbx had is gone.
    const Bytes shrunk(grown.begin() + static_cast<std::ptrdiff_t>(logged.size()), grown.end());
    p = predict_next_boot(*log, {.variables = {{"dbx", "/sys/firmware/efi/efivars/dbx", shrunk, true}}});
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code, ErrorCode::PolicyRefused);
    EXPECT_NE(p.error().message.find("a revocation list only grows"), std::string::npos) << p.error().message;
    // The same content from a file the operator gives: taken.
    p = predict_next_boot(*log, {.variables = {{"dbx", "dbx-cleanup.esl", shrunk, false}}});
    EXPECT_TRUE(p.has_value());

    // db from the firmware: refused, whatever it holds; from a file: taken.
    auto db = parse_uefi_variable(log->events[variable_event(*log, "db")].data);
    ASSERT_TRUE(db.has_value());
    const Bytes db_data(db->data.begin(), db->data.end());
    p = predict_next_boot(*log, {.variables = {{"db", "/sys/firmware/efi/efivars/db", db_data, true}}});
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code, ErrorCode::PolicyRefused);
    EXPECT_NE(p.error().message.find("give the db update you checked as a file"), std::string::npos)
        << p.error().message;
    EXPECT_TRUE(predict_next_boot(*log, {.variables = {{"db", "db.esl", db_data, false}}}).has_value());

    // A firmware dbx that is no list of EFI_SIGNATURE_LISTs.
    const Bytes junk = {1, 2, 3};
    p = predict_next_boot(*log, {.variables = {{"dbx", "/sys/firmware/efi/efivars/dbx", junk, true}}});
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code, ErrorCode::InvalidInput);
}

TEST(Predict, OnlySecureBootPolicyVariablesThisBootMeasuredArePredicted) {
    auto log = parse_event_log(testing::read_data("eventlog/go-tpm-tools/ubuntu-2404-amd-sevsnp.bin"));
    ASSERT_TRUE(log.has_value());
    const Bytes off = {0};
    auto p = predict_next_boot(*log, {.variables = {{"SecureBoot", "sb", off}}});
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(p.error().message.find("'SecureBoot' is not a Secure Boot policy variable"), std::string::npos)
        << p.error().message;

    p = predict_next_boot(*log, {.variables = {{"dbt", "dbt.esl", off}}});
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code, ErrorCode::NotFound);
    EXPECT_NE(p.error().message.find("no PCR 7 EV_EFI_VARIABLE_DRIVER_CONFIG event of this boot's log measured dbt"),
              std::string::npos)
        << p.error().message;

    // A logged event whose digest is not that of its data (a tampered log) is not predicted from.
    const std::size_t at = variable_event(*log, "db");
    log->events[at].digests[0].digest[0] ^= 1;
    p = predict_next_boot(*log, {.variables = {{"db", "db.esl", off}}});
    ASSERT_FALSE(p.has_value());
    EXPECT_EQ(p.error().code, ErrorCode::InvalidInput);
    EXPECT_NE(p.error().message.find("digest is not that of its data"), std::string::npos) << p.error().message;
}

}  // namespace
}  // namespace cvmunlock
