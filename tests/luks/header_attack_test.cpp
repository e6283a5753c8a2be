// The cloud host writes the disk, so it can rewrite the LUKS2 metadata of an
// enrolled volume. Each test enrolls a genuine image, lets the "host" rewrite
// its header, and checks both front ends: `cvmunlock unlock` (exit 1 with the
// reason) and the token plugin inside a real `cryptsetup open --token-only`.
// A cipher_null segment would map host-chosen plaintext and a cipher_null
// keyslot accepts any passphrase (CVE-2025-59054 class); stock cryptsetup
// 2.6.1 accepts both headers. See docs/header-validation.md.
//
// Nothing may be activated. There is no device-mapper here, so every test
// checks (TearDown) that the device-mapper name it asks for never appeared and
// that no loop device was attached over its images; the real activation path
// is covered by the QEMU e2e tests (issue 4).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cvmunlock/hash.hpp"
#include "cvmunlock/luks2_header.hpp"
#include "luks/volume.hpp"
#include "process.hpp"
#include "swtpm.hpp"
#include "temp_dir.hpp"
#include "tpm_proxy.hpp"
#include "tpm/tpm_context.hpp"
#include "tpm/tpm_names.hpp"
#include "unlock.hpp"
#include "volume_check.hpp"

namespace cvmunlock {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ProcessResult;
using testing::run_process;

// cryptsetup 2.6 loads token plugins only from its built-in directory
// (--with-luks2-external-tokens-path); tests bind-mount a private copy over it.
constexpr const char* kTokenDir = "/lib/x86_64-linux-gnu/cryptsetup";
constexpr std::uint64_t kImageSize = 32u << 20;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

Bytes random_bytes(std::size_t n) {
    Bytes out(n);
    if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) ADD_FAILURE() << "RAND_bytes failed";
    return out;
}

Bytes read_range(const fs::path& file, std::uint64_t offset, std::uint64_t size) {
    std::ifstream in(file, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset));
    Bytes out(size);
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(size));
    out.resize(static_cast<std::size_t>(in.gcount()));
    return out;
}

void write_at(const fs::path& file, std::uint64_t offset, ByteView bytes) {
    std::fstream out(file, std::ios::binary | std::ios::in | std::ios::out);
    out.seekp(static_cast<std::streamoff>(offset));
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << "writing " << file;
}

void write_file(const fs::path& file, ByteView bytes) {
    std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                static_cast<std::streamsize>(bytes.size()));
}

using testing::TempDir;

// A private token directory holding only our plugin, bind-mounted over
// cryptsetup's in a throwaway mount namespace for each command.
class PluginDir {
public:
    PluginDir() {
        std::error_code ec;
        const fs::path plugin(CVMUNLOCK_TOKEN_PLUGIN);
        ok_ = !dir_.path().empty() && fs::copy_file(plugin, dir_.path() / plugin.filename(), ec);
    }
    [[nodiscard]] bool ok() const noexcept { return ok_; }
    ProcessResult run(const std::vector<std::string>& argv, const std::string& tcti) const {
        std::vector<std::string> full{"unshare", "-m", "sh", "-c", "mount --bind \"$0\" \"$1\" && shift && exec \"$@\"",
                                      dir_.path(), kTokenDir};
        full.insert(full.end(), argv.begin(), argv.end());
#ifdef CVMUNLOCK_SANITIZER_PRELOAD
        // The sanitizer build's plugin runs inside the stock (uninstrumented) cryptsetup.
        return run_process(full, {"CVMUNLOCK_TCTI=" + tcti, "LD_PRELOAD=" CVMUNLOCK_SANITIZER_PRELOAD,
                                  "ASAN_OPTIONS=detect_leaks=0"});
#else
        return run_process(full, {"CVMUNLOCK_TCTI=" + tcti});
#endif
    }

private:
    TempDir dir_;
    bool ok_ = false;
};

// Test images: small, with the cheapest PBKDF2 libcryptsetup allows.
void format_image(const fs::path& img, const fs::path& key_file, const std::vector<std::string>& extra = {}) {
    std::ofstream{img};
    fs::resize_file(img, kImageSize);
    std::vector<std::string> argv{"cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode", "--pbkdf", "pbkdf2",
                                  "--pbkdf-force-iterations", "1000", "--key-file", key_file};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(img);
    const auto r = run_process(argv);
    ASSERT_EQ(r.exit_code, 0) << r.err;
}

// A 64-bit LUKS2 value, stored as a decimal string.
std::uint64_t u64(const json& value) { return std::stoull(value.get<std::string>()); }

Result<Luks2Header> header_of(const fs::path& img) {
    return parse_luks2_header(read_range(img, 0, 2 * luks2::kMaxHdrSize));
}

json metadata_of(const fs::path& img) {
    auto header = header_of(img);
    EXPECT_TRUE(header) << header.error().message;
    return header ? header->primary.metadata : json();
}

// The host's pen: edits the JSON metadata and writes both header copies back
// with seqid bumped and checksums recomputed, as anyone who can write the disk can.
void rewrite_metadata(const fs::path& img, const std::function<void(json&)>& edit) {
    auto header = header_of(img);
    ASSERT_TRUE(header) << header.error().message;
    Luks2Header rewritten;
    rewritten.primary = header->primary;
    edit(rewritten.primary.metadata);
    rewritten.primary.binary.seqid += 1;
    auto bytes = serialize_luks2_header(rewritten);  // the secondary is derived from the primary
    ASSERT_TRUE(bytes) << bytes.error().message;
    ASSERT_NO_FATAL_FAILURE(write_at(img, 0, *bytes));
}

// For what a JSON serializer cannot write (duplicate keys): replaces `from` by
// `to` in the JSON text of both copies and recomputes their checksums (LUKS2
// spec 2.1, Table 1: SHA-256 over the whole copy with the checksum field zeroed).
void rewrite_json_text(const fs::path& img, const std::string& from, const std::string& to) {
    constexpr std::size_t kChecksumOffset = 0x1c0, kChecksumField = 64;
    auto header = header_of(img);
    ASSERT_TRUE(header) << header.error().message;
    const std::size_t hdr = header->primary.binary.hdr_size, json_area = hdr - luks2::kBinaryHeaderSize;
    Bytes bytes = read_range(img, 0, 2 * hdr);
    ASSERT_EQ(bytes.size(), 2 * hdr);
    for (const std::size_t copy : {std::size_t{0}, hdr}) {
        const auto area = bytes.begin() + static_cast<std::ptrdiff_t>(copy + luks2::kBinaryHeaderSize);
        std::string text(area, area + static_cast<std::ptrdiff_t>(json_area));
        const auto at = text.find(from);
        ASSERT_NE(at, std::string::npos) << from;
        text.replace(at, from.size(), to);
        ASSERT_GT(json_area, text.find('\0')) << "no room left in the JSON area";
        std::copy_n(text.begin(), json_area, area);
        const auto sum = bytes.begin() + static_cast<std::ptrdiff_t>(copy + kChecksumOffset);
        std::fill_n(sum, kChecksumField, 0);
        const auto digest = hash_bytes(HashAlg::Sha256, ByteView(bytes).subspan(copy, hdr));
        ASSERT_TRUE(digest);
        std::copy(digest->begin(), digest->end(), sum);
    }
    ASSERT_NO_FATAL_FAILURE(write_at(img, 0, bytes));
}

// Keyslot `from` of `donor` (JSON and binary area) becomes keyslot `to` of
// `img`, in the area `to` had; donor's digest replaces img's, binding keyslot 0 and `to`.
void transplant_keyslot(const fs::path& donor, const std::string& from, const fs::path& img, const std::string& to) {
    const json theirs = metadata_of(donor), ours = metadata_of(img);
    ASSERT_TRUE(theirs.is_object() && ours.is_object());
    const json& their_area = theirs.at("keyslots").at(from).at("area");
    const json& our_area = ours.at("keyslots").at(to).at("area");
    ASSERT_EQ(their_area.at("size"), our_area.at("size"));
    const Bytes area = read_range(donor, u64(their_area.at("offset")), u64(their_area.at("size")));
    ASSERT_NO_FATAL_FAILURE(write_at(img, u64(our_area.at("offset")), area));
    json keyslot = theirs.at("keyslots").at(from);
    keyslot["area"]["offset"] = our_area.at("offset");
    ASSERT_NO_FATAL_FAILURE(rewrite_metadata(img, [&](json& m) {
        m["keyslots"][to] = keyslot;
        json digest = theirs.at("digests").begin().value();
        digest["keyslots"] = json::array({"0", to});
        m["digests"] = json{{"0", digest}};
    }));
}

// LUKS anti-forensic split with SHA-256 diffusion (LUKS1 On-Disk Format 2.4,
// "AF-Splitter"; cryptsetup lib/luks1/af.c), which libcryptsetup merges back
// when it opens a keyslot. The host may pick stripes 0..3998 freely (zeros
// here); the last is the key XOR the diffusion folded over them.
constexpr std::uint32_t kAfStripes = 4000;
constexpr std::size_t kSectorSize = 512;  // AF material is stored in whole sectors

Bytes diffuse(ByteView in) {
    constexpr std::size_t kDigest = 32;
    Bytes out;
    for (std::uint32_t block = 0; std::size_t{block} * kDigest < in.size(); ++block) {
        const auto part = in.subspan(block * kDigest, std::min(kDigest, in.size() - block * kDigest));
        Bytes buf{static_cast<std::uint8_t>(block >> 24), static_cast<std::uint8_t>(block >> 16),
                  static_cast<std::uint8_t>(block >> 8), static_cast<std::uint8_t>(block)};
        buf.insert(buf.end(), part.begin(), part.end());
        const auto h = hash_bytes(HashAlg::Sha256, buf);
        out.insert(out.end(), h->begin(), h->begin() + static_cast<std::ptrdiff_t>(part.size()));
    }
    return out;
}

Bytes af_split(ByteView key) {
    Bytes folded(key.size(), 0);
    for (std::uint32_t i = 0; i + 1 < kAfStripes; ++i) folded = diffuse(folded);  // stripe i is zero
    Bytes material((key.size() * kAfStripes + kSectorSize - 1) / kSectorSize * kSectorSize, 0);
    for (std::size_t i = 0; i < key.size(); ++i) {
        material[(kAfStripes - 1) * key.size() + i] = static_cast<std::uint8_t>(key[i] ^ folded[i]);
    }
    return material;
}

// cryptsetup runs a cipher_null keyslot area through the kernel crypto API
// (AF_ALG), else through dm-crypt; sandboxes may have neither.
bool kernel_crypto_api_available() {
    const int fd = ::socket(AF_ALG, SOCK_SEQPACKET, 0);
    if (fd < 0) return false;
    ::close(fd);
    return true;
}

// A loopback port nobody listens on: a TCTI pointing at it finds no TPM.
int unused_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin_port);
    }
    ::close(fd);
    return port;
}

// Loop devices whose backing file lies under `dir`.
std::vector<std::string> loops_over(const fs::path& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/sys/block", ec)) {
        std::ifstream backing(e.path() / "loop" / "backing_file");
        std::string file;
        if (std::getline(backing, file) && file.starts_with(dir.string())) out.push_back(e.path().filename());
    }
    return out;
}

class HeaderAttack : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        ::unsetenv("CVMUNLOCK_TCTI");  // run_process appends ours; an inherited one would win
        ::setenv("TSS2_LOG", "all+NONE", 0);  // tpm2-tss logs the TPM errors the engine handles
        tpm_ = new testing::Swtpm();
        plugin_ = new PluginDir();
    }
    static void TearDownTestSuite() {
        delete plugin_;
        delete tpm_;
    }

    void SetUp() override {
        ASSERT_TRUE(tpm_->ok()) << tpm_->error();
        ASSERT_TRUE(plugin_->ok()) << "cannot copy " << CVMUNLOCK_TOKEN_PLUGIN;
        ASSERT_TRUE(fs::is_directory(kTokenDir)) << kTokenDir << " (cryptsetup's token directory) is missing";
        ASSERT_FALSE(dir_.path().empty());
        key_ = dir_.path() / "passphrase";
        write_file(key_, random_bytes(32));
        img_ = dir_.path() / "a.img";
        ASSERT_NO_FATAL_FAILURE(format_image(img_, key_));
        ASSERT_NO_FATAL_FAILURE(enroll(img_, key_, token_, slot_));
    }

    void TearDown() override {
        if (fs::exists("/dev/mapper/" + dm_name_)) {
            ADD_FAILURE() << "a device-mapper device was activated: " << dm_name_;
            run_process({"cryptsetup", "close", dm_name_});
        }
        EXPECT_EQ(loops_over(dir_.path()), std::vector<std::string>{}) << "a loop device was attached";
    }

    void enroll(const fs::path& img, const fs::path& key, int& token, int& keyslot) {
        auto r = run_process({CVMUNLOCK_CLI, "enroll", img, "--tpm", tcti(), "--pcrs", "7", "--unlock-key-file", key,
                              "--json"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        const auto out = json::parse(r.out, nullptr, false);
        ASSERT_TRUE(out.is_object()) << r.out;
        token = out.value("token", -1);
        keyslot = out.value("keyslot", -1);
        ASSERT_GE(token, 0);
        ASSERT_GE(keyslot, 0);
    }

    static std::string tcti() { return tpm_->tcti(); }
    std::string slot() const { return std::to_string(slot_); }

    ProcessResult unlock(const fs::path& img, bool test = true) const {
        return run_process({CVMUNLOCK_CLI, "unlock", "--tpm", tcti(), img, test ? "--test" : dm_name_});
    }

    // cryptsetup with our plugin, asked to use only tokens, stopping before activation.
    ProcessResult token_open(const fs::path& img, const std::string& tpm) const {
        return plugin_->run({"cryptsetup", "open", "--test-passphrase", "--token-only", "-v", img}, tpm);
    }

    // Both front ends refuse and name every one of `why`: `cvmunlock unlock`,
    // with --test and (refusing before any activation) without it, and the
    // plugin in `cryptsetup open --token-only`. (Without --test-passphrase,
    // cryptsetup needs device-mapper before it loads tokens: not here.)
    void expect_refused(const fs::path& img, const std::vector<std::string>& why) const {
        expect_refused(img, why, why);
    }
    void expect_refused(const fs::path& img, const std::vector<std::string>& cli_why,
                        const std::vector<std::string>& plugin_why) const {
        const std::vector<ProcessResult> runs{unlock(img, true), unlock(img, false), token_open(img, tcti())};
        EXPECT_EQ(runs[0].exit_code, 1) << runs[0].err;
        EXPECT_EQ(runs[1].exit_code, 1) << runs[1].err;
        const ProcessResult& plugin = runs[2];
        EXPECT_NE(plugin.exit_code, 0) << plugin.out << plugin.err;
        EXPECT_LT(plugin.exit_code, 128) << "cryptsetup was killed by a signal";
        EXPECT_TRUE(contains(plugin.err, "cvmunlock: token " + std::to_string(token_) + " refused: ")) << plugin.err;
        for (const auto& run : runs) {
            for (const auto& w : &run == &plugin ? plugin_why : cli_why) {
                EXPECT_TRUE(contains(run.err, w)) << "missing \"" << w << "\" in: " << run.err;
            }
        }
    }

    // Another volume, formatted with this one's passphrase and enrolled on the same vTPM.
    void enroll_other(const fs::path& other, int& other_token, int& other_slot) {
        ASSERT_NO_FATAL_FAILURE(format_image(other, key_));
        ASSERT_NO_FATAL_FAILURE(enroll(other, key_, other_token, other_slot));
    }

    // Unseals this volume's keyslot passphrase through the engine, as only the guest can.
    SecretBuffer unseal_passphrase() const {
        auto snapshot = engine::take_unlock_snapshot(img_);
        EXPECT_TRUE(snapshot) << snapshot.error().message;
        if (!snapshot) return {};
        auto volume = luks::Volume::open_detached(snapshot->path(), img_);
        EXPECT_TRUE(volume) << volume.error().message;
        if (!volume) return {};
        auto tokens = engine::checked_header(snapshot->bytes(), *volume, Luks2Policy{});
        auto tpm = tpm::TpmContext::open(tcti());
        EXPECT_TRUE(tokens && !tokens->empty() && tpm);
        if (!tokens || tokens->empty() || !tpm) return {};
        engine::UnsealContext ctx{**tpm, engine::PinSource{}, "", engine::SnpGateConfig{}};
        auto unsealed = engine::unseal_token(tokens->front().token, tokens->front().id, ctx);
        EXPECT_TRUE(unsealed) << unsealed.error().message;
        return unsealed ? std::move(unsealed->parts.passphrase) : SecretBuffer();
    }

    static testing::Swtpm* tpm_;
    static PluginDir* plugin_;
    TempDir dir_;
    fs::path key_, img_;
    int token_ = -1, slot_ = -1;
    const std::string dm_name_ = "cvmunlock-attack-" + std::to_string(::getpid());
};

testing::Swtpm* HeaderAttack::tpm_ = nullptr;
PluginDir* HeaderAttack::plugin_ = nullptr;

// Control: rewriting the header through the same path with no change keeps it
// acceptable, so the refusals below are due to the attacks, not the rewriting.
TEST_F(HeaderAttack, RewriteWithoutChangeStillUnlocks) {
    ASSERT_NO_FATAL_FAILURE(rewrite_metadata(img_, [](json&) {}));
    const auto cli = unlock(img_);
    EXPECT_EQ(cli.exit_code, 0) << cli.err;
    const auto plugin = token_open(img_, tcti());
    EXPECT_EQ(plugin.exit_code, 0) << plugin.out << plugin.err;
}

// 1. The host keeps our keyslot and makes the data segment cipher_null: the
// guest would read and write host-chosen plaintext.
TEST_F(HeaderAttack, NullCipherDataSegmentIsRefused) {
    ASSERT_NO_FATAL_FAILURE(rewrite_metadata(img_, [](json& m) { m["segments"]["0"]["encryption"] = "cipher_null-ecb"; }));

    const auto stock = run_process({"cryptsetup", "open", "--test-passphrase", "--key-file", key_, "-v", img_});
    EXPECT_EQ(stock.exit_code, 0) << "stock cryptsetup no longer accepts this header: " << stock.err;
    EXPECT_TRUE(contains(run_process({"cryptsetup", "luksDump", img_}).out, "cipher: cipher_null-ecb"));

    expect_refused(img_, {"segments.0.encryption", "cipher_null-ecb"});
}

// 1b. The same, hidden behind a duplicate key: json-c (libcryptsetup) keeps
// the last "encryption", a parser keeping the first would see AES. cvmunlock's
// parser refuses duplicate keys; the plugin validates libcryptsetup's view.
TEST_F(HeaderAttack, NullCipherBehindDuplicateKeyIsRefused) {
    ASSERT_NO_FATAL_FAILURE(rewrite_metadata(img_, [](json&) {}));  // compact JSON, keys sorted
    ASSERT_NO_FATAL_FAILURE(rewrite_json_text(img_, R"("encryption":"aes-xts-plain64","iv_tweak")",
                                              R"("encryption":"aes-xts-plain64","encryption":"cipher_null-ecb","iv_tweak")"));

    const auto stock = run_process({"cryptsetup", "open", "--test-passphrase", "--key-file", key_, "-v", img_});
    EXPECT_EQ(stock.exit_code, 0) << "stock cryptsetup no longer accepts this header: " << stock.err;
    EXPECT_TRUE(contains(run_process({"cryptsetup", "luksDump", img_}).out, "cipher: cipher_null-ecb"));

    // The plugin checks the header bytes as unlock does, before what libcryptsetup loaded:
    // both refuse for the same reason.
    expect_refused(img_, {"duplicate key"});
}

// 2. The host replaces our keyslot with a cipher_null one whose area holds, in
// plain, the AF-split of a volume key it chose, and the digest with that key's
// digest (taken from a volume it formatted with that key): any passphrase opens
// it and yields the host's key.
TEST_F(HeaderAttack, NullCipherKeyslotOpeningWithAnyPassphraseIsRefused) {
    const Bytes host_key = random_bytes(64);
    const fs::path host_key_file = dir_.path() / "host-volume-key", host_img = dir_.path() / "host.img";
    write_file(host_key_file, host_key);
    ASSERT_NO_FATAL_FAILURE(format_image(host_img, key_, {"--volume-key-file", host_key_file}));
    const json donor = metadata_of(host_img);
    const json genuine = metadata_of(img_);
    ASSERT_TRUE(donor.is_object() && genuine.is_object());

    json keyslot = donor.at("keyslots").at("0");
    keyslot["area"]["encryption"] = "cipher_null-ecb";
    keyslot["area"]["offset"] = genuine.at("keyslots").at(slot()).at("area").at("offset");
    const Bytes material = af_split(host_key);
    ASSERT_LE(material.size(), u64(keyslot["area"]["size"]));
    ASSERT_NO_FATAL_FAILURE(write_at(img_, u64(keyslot["area"]["offset"]), material));
    ASSERT_NO_FATAL_FAILURE(rewrite_metadata(img_, [&](json& m) {
        m["keyslots"][slot()] = keyslot;
        json digest = donor.at("digests").at("0");
        digest["keyslots"] = json::array({"0", slot()});
        m["digests"] = json{{"0", digest}};
    }));

    EXPECT_TRUE(contains(run_process({"cryptsetup", "luksDump", img_}).out, "Cipher:     cipher_null-ecb"));
    const fs::path any = dir_.path() / "any-passphrase";
    write_file(any, random_bytes(32));
    const auto stock = run_process({"cryptsetup", "open", "--test-passphrase", "--key-file", any, "-v", img_});
    if (kernel_crypto_api_available()) {
        EXPECT_EQ(stock.exit_code, 0) << "stock cryptsetup refuses the null keyslot: " << stock.err;
        EXPECT_TRUE(contains(stock.out, "Key slot " + slot() + " unlocked.")) << stock.out;
    } else {
        // libcryptsetup reads a cipher_null area through AF_ALG (or dm-crypt):
        // it loads this header, then cannot run the cipher in this sandbox.
        std::printf("[   NOTE   ] no AF_ALG here: stock cryptsetup loads the header but cannot decrypt the null "
                    "keyslot (exit %d)\n", stock.exit_code);
    }

    expect_refused(img_, {"keyslots." + slot() + ".area.encryption", "cipher_null-ecb"});
}

// 3a. Another volume's digest added before ours and bound to the keyslot our
// token names, ours kept for keyslot 0. libcryptsetup takes the first digest
// of segment 0 (so it calls the plugin for that keyslot) and loads the header;
// the validator allows exactly one digest.
TEST_F(HeaderAttack, SecondDigestFromAnotherVolumeIsRefused) {
    const fs::path other = dir_.path() / "b.img";
    ASSERT_NO_FATAL_FAILURE(format_image(other, key_));
    const json donor = metadata_of(other);
    ASSERT_TRUE(donor.is_object());
    ASSERT_NO_FATAL_FAILURE(rewrite_metadata(img_, [&](json& m) {
        json theirs = donor.at("digests").at("0"), ours = m["digests"]["0"];
        theirs["keyslots"] = json::array({slot()});
        ours["keyslots"] = json::array({"0"});
        m["digests"] = json{{"0", theirs}, {"1", ours}};
    }));

    const auto stock = run_process({"cryptsetup", "luksDump", img_});
    EXPECT_EQ(stock.exit_code, 0) << "stock cryptsetup no longer loads this header: " << stock.err;

    expect_refused(img_, {"digests: has 2 digest(s)"});
}

// 3b. Another volume enrolled on the same vTPM: its cvmunlock keyslot, binary
// area and digest transplanted as the keyslot our token names. The digest is
// not the one our sealed pin names (and our unsealed secret would not open
// the keyslot either).
TEST_F(HeaderAttack, KeyslotFromAnotherEnrolledVolumeIsRefused) {
    const fs::path other = dir_.path() / "b.img";
    int other_token = -1, other_slot = -1;
    ASSERT_NO_FATAL_FAILURE(enroll_other(other, other_token, other_slot));
    ASSERT_NO_FATAL_FAILURE(transplant_keyslot(other, std::to_string(other_slot), img_, slot()));

    expect_refused(img_, {"keyslot " + slot() + " is bound to a volume-key digest", "other than the one sealed in the vTPM"});
}

// 3b'. Only the keyslot and its area transplanted, this volume's digest kept:
// the binding holds, the keyslot does not open with our secret. unlock says
// so; the plugin hands the secret to libcryptsetup, which cannot open the
// keyslot either, and cryptsetup falls back to asking.
TEST_F(HeaderAttack, KeyslotFromAnotherVolumeUnderOurDigestDoesNotOpen) {
    const fs::path other = dir_.path() / "b.img";
    int other_token = -1, other_slot = -1;
    ASSERT_NO_FATAL_FAILURE(enroll_other(other, other_token, other_slot));
    const json digests = metadata_of(img_).at("digests");
    ASSERT_NO_FATAL_FAILURE(transplant_keyslot(other, std::to_string(other_slot), img_, slot()));
    ASSERT_NO_FATAL_FAILURE(rewrite_metadata(img_, [&](json& m) { m["digests"] = digests; }));

    const auto cli = unlock(img_, true);
    EXPECT_EQ(cli.exit_code, 1) << cli.err;
    EXPECT_TRUE(contains(cli.err, "keyslot " + slot() + " does not open")) << cli.err;
    const auto plugin = token_open(img_, tcti());
    EXPECT_NE(plugin.exit_code, 0) << plugin.out << plugin.err;
    EXPECT_LT(plugin.exit_code, 128) << "cryptsetup was killed by a signal";
}

// 3c. As 3b, but the host also learned our keyslot passphrase (not the volume
// key): the transplanted keyslot opens with it and yields the other volume's
// key. Only the volume-key pin sealed in the vTPM can tell.
TEST_F(HeaderAttack, KeyslotOpeningWithLeakedSecretFailsTheVolumeKeyPin) {
    const Bytes other_key = random_bytes(64);
    const fs::path other_key_file = dir_.path() / "b-volume-key", other = dir_.path() / "b.img";
    write_file(other_key_file, other_key);
    ASSERT_NO_FATAL_FAILURE(format_image(other, key_, {"--volume-key-file", other_key_file}));
    int other_slot = -1;
    {
        const SecretBuffer leaked = unseal_passphrase();
        ASSERT_FALSE(leaked.empty());
        auto volume = luks::Volume::open(other);
        ASSERT_TRUE(volume) << volume.error().message;
        auto added = volume->add_keyslot(SecretBuffer::copy_of(other_key), leaked.secret_view(), luks::minimal_pbkdf2());
        ASSERT_TRUE(added) << added.error().message;
        other_slot = *added;
    }
    ASSERT_NO_FATAL_FAILURE(transplant_keyslot(other, std::to_string(other_slot), img_, slot()));

    expect_refused(img_, {"keyslot " + slot() + " is bound to a volume-key digest", "other than the one sealed in the vTPM"});
}

// 3d. Another volume enrolled on the same vTPM, whose token comes along with
// its keyslot, area and digest. Its sealed secret opens its keyslot and yields
// its own key; the sealed pin also covers that volume's LUKS2 UUID, which is
// not this header's, so both front ends refuse.
TEST_F(HeaderAttack, TokenKeyslotAndDigestFromAnotherVolumeAreRefused) {
    const fs::path other = dir_.path() / "b.img";
    int other_token = -1, other_slot = -1;
    ASSERT_NO_FATAL_FAILURE(enroll_other(other, other_token, other_slot));
    ASSERT_NO_FATAL_FAILURE(transplant_keyslot(other, std::to_string(other_slot), img_, slot()));
    json token = metadata_of(other).at("tokens").at(std::to_string(other_token));
    token["keyslots"] = json::array({slot()});
    ASSERT_NO_FATAL_FAILURE(rewrite_metadata(img_, [&](json& m) { m["tokens"][std::to_string(token_)] = token; }));

    expect_refused(img_, {"other than the one sealed in the vTPM"});
}

// One corpus, both front ends: for every header below, `cvmunlock unlock` (from
// its snapshot) and the token plugin (inside stock cryptsetup, on what
// libcryptsetup loaded) accept it or both refuse it. They share one check
// (engine::checked_header): the header bytes parsed strictly, then
// libcryptsetup's copy compared with them; so a JSON dialect that json-c reads
// otherwise (comments, trailing commas, keys cut at NUL) cannot split them.
TEST_F(HeaderAttack, UnlockAndThePluginAgreeOnEveryHeader) {
    ASSERT_NO_FATAL_FAILURE(rewrite_metadata(img_, [](json&) {}));  // compact JSON, keys sorted
    const Bytes genuine = read_range(img_, 0, 1u << 20);
    json null_segments = metadata_of(img_).at("segments");
    null_segments["0"]["encryption"] = "cipher_null-ecb";
    struct Case {
        const char* name;
        bool accepted;
        std::function<void()> edit;
    };
    const std::vector<Case> corpus = {
        {"genuine", true, [] {}},
        {"a comment", false, [&] { rewrite_json_text(img_, R"("config":)", R"(/*x*/"config":)"); }},
        {"a trailing comma", false, [&] { rewrite_json_text(img_, R"("segments":["0"])", R"("segments":["0",])"); }},
        {"segments\\u0000 after segments", false,
         [&] { rewrite_json_text(img_, R"("tokens":)", R"("segments\u0000":)" + null_segments.dump() + R"(,"tokens":)"); }},
        {"a control character in a key", false, [&] { rewrite_json_text(img_, R"("config":)", R"("a\u0001b":1,"config":)"); }},
        {"a duplicate segments key", false,
         [&] { rewrite_json_text(img_, R"("tokens":)", R"("segments":)" + null_segments.dump() + R"(,"tokens":)"); }},
        {"cipher_null segment", false,
         [&] { rewrite_metadata(img_, [](json& m) { m["segments"]["0"]["encryption"] = "cipher_null-ecb"; }); }},
        {"copies that differ only in seqid", true,
         [&] {
             auto h = header_of(img_);
             ASSERT_TRUE(h);
             h->secondary->binary.seqid -= 1;
             auto bytes = serialize_luks2_header(*h);
             ASSERT_TRUE(bytes);
             write_at(img_, 0, *bytes);
         }},
        {"copies whose JSON differs", false,
         [&] {
             auto h = header_of(img_);
             ASSERT_TRUE(h);
             h->secondary->binary.seqid += 1;
             h->secondary->metadata["segments"]["0"]["encryption"] = "cipher_null-ecb";
             auto bytes = serialize_luks2_header(*h);
             ASSERT_TRUE(bytes);
             write_at(img_, 0, *bytes);
         }},
        {"token version 2^32 + 1", false,
         [&] {
             rewrite_metadata(img_, [&](json& m) { m["tokens"][std::to_string(token_)]["version"] = 4294967297ULL; });
         }},
    };
    for (const auto& c : corpus) {
        SCOPED_TRACE(c.name);
        write_at(img_, 0, genuine);
        ASSERT_NO_FATAL_FAILURE(c.edit());
        const ProcessResult cli = unlock(img_);
        const ProcessResult plugin = token_open(img_, tcti());
        EXPECT_EQ(cli.exit_code == 0, plugin.exit_code == 0)
            << "unlock: " << cli.exit_code << " " << cli.err << "\nplugin: " << plugin.exit_code << " " << plugin.err;
        EXPECT_EQ(cli.exit_code == 0, c.accepted) << cli.err;
        EXPECT_LT(plugin.exit_code, 128) << "cryptsetup was killed by a signal";
    }
}

// The plugin inside stock cryptsetup with several tokens, after PCR 7 changed,
// on a private vTPM behind a counting proxy. libcryptsetup calls a plugin for
// each token in two priority passes; a refusal ends its loop (the vTPM is asked
// to unseal once per refusal), unless another cvmunlock token may still open
// the volume. No PIN is asked for a token whose PCRs already differ.
TEST_F(HeaderAttack, PluginAsksTheVtpmOncePerRefusalAndNoPinForAChangedToken) {
    testing::Swtpm own;
    ASSERT_TRUE(own.ok()) << own.error();
    const fs::path img = dir_.path() / "multi.img", pin = dir_.path() / "pin";
    write_file(pin, Bytes{'1', '2', '3', '4'});
    ASSERT_NO_FATAL_FAILURE(format_image(img, key_));
    auto enroll_own = [&](const std::vector<std::string>& extra) {
        std::vector<std::string> argv{CVMUNLOCK_CLI, "enroll", img.string(), "--tpm", own.tcti(), "--pcrs", "7",
                                      "--unlock-key-file", key_.string()};
        argv.insert(argv.end(), extra.begin(), extra.end());
        const auto r = run_process(argv);
        ASSERT_EQ(r.exit_code, 0) << r.err;
    };
    // Token 0 without a PIN and token 1 with one, both sealed to the current PCR 7.
    ASSERT_NO_FATAL_FAILURE(enroll_own({}));
    ASSERT_NO_FATAL_FAILURE(enroll_own({"--pin-file", pin.string()}));
    ASSERT_EQ(run_process({"tpm2_pcrextend", "-T", own.tcti(), "7:sha256=" + std::string(64, 'a')}).exit_code, 0);
    // One TPM2_Load of the sealed object per unseal attempt (a TPM may answer
    // TPM2_Unseal itself with TPM_RC_RETRY, which ESAPI resends).
    constexpr std::uint32_t kLoad = 0x157;
    auto unseals = [&](const testing::StallingTpmProxy& p) {
        const auto codes = p.commands();
        return std::count(codes.begin(), codes.end(), kLoad);
    };
    {
        testing::StallingTpmProxy proxy(testing::tcti_port(own.tcti()), 0);
        const auto r = plugin_->run({"cryptsetup", "open", "--test-passphrase", "--token-only", "-v", img.string()},
                                    proxy.tcti());
        EXPECT_NE(r.exit_code, 0) << r.err;
        EXPECT_EQ(unseals(proxy), 1) << "one unseal attempt, for the one token that could be tried";
        EXPECT_TRUE(contains(r.err, "PCR 7 (sha256) changed")) << r.err;
        EXPECT_FALSE(contains(r.err + r.out, "PIN")) << "a PIN was asked for a token whose PCR 7 changed: " << r.err;
        const std::string refused = "cvmunlock: token 0 refused: ";
        EXPECT_EQ(r.err.find(refused), r.err.rfind(refused)) << "token 0 refused twice: " << r.err;
    }
    // Token 2, with a PIN, sealed to the new PCR 7: tokens 0 and 1 are passed over
    // (one unseal for token 0, none for token 1), token 2 asks for its PIN and opens.
    ASSERT_NO_FATAL_FAILURE(enroll_own({"--pin-file", pin.string()}));
    {
        testing::StallingTpmProxy proxy(testing::tcti_port(own.tcti()), 0);
        const auto r = plugin_->run({"sh", "-c", "printf 1234 | exec cryptsetup open --test-passphrase --token-only -v \"$0\"",
                                     img.string()},
                                    proxy.tcti());
        EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
        EXPECT_TRUE(contains(r.out + r.err, "unsealed from the vTPM (token 2")) << r.out << r.err;
        EXPECT_EQ(unseals(proxy), 2) << "token 0 once, token 2 once, token 1 never: " << [&] { std::string s; for (auto c : proxy.commands()) s += tpm::command_name(c) + " "; return s; }() << r.err;
    }
}

// 4. Check and use read the same bytes: the engine unlocks from a snapshot
// taken before the host rewrote the disk (so libcryptsetup loaded the snapshot,
// whose metadata it validates again), and refuses a snapshot of a rewritten
// header even once the disk is genuine again.
TEST_F(HeaderAttack, HeaderRewrittenAfterTheSnapshotIsNotUsed) {
    const auto null_segment = [](json& m) { m["segments"]["0"]["encryption"] = "cipher_null-ecb"; };
    engine::UnlockRequest request;
    request.device = img_;
    request.tcti = tcti();
    request.name = std::nullopt;  // test only

    auto genuine = engine::take_unlock_snapshot(img_);
    ASSERT_TRUE(genuine) << genuine.error().message;
    ASSERT_NO_FATAL_FAILURE(rewrite_metadata(img_, null_segment));
    auto r = engine::unlock_from_snapshot(*genuine, request);
    EXPECT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->keyslot, slot_);
    const auto fresh = unlock(img_);
    EXPECT_EQ(fresh.exit_code, 1) << fresh.err;
    EXPECT_TRUE(contains(fresh.err, "segments.0.encryption")) << fresh.err;

    auto rewritten = engine::take_unlock_snapshot(img_);
    ASSERT_TRUE(rewritten) << rewritten.error().message;
    ASSERT_NO_FATAL_FAILURE(write_at(img_, 0, genuine->bytes()));
    ASSERT_EQ(unlock(img_).exit_code, 0);
    r = engine::unlock_from_snapshot(*rewritten, request);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().reason, engine::Reason::HeaderUnacceptable);
    EXPECT_TRUE(contains(r.error().message, "segments.0.encryption")) << r.error().message;
}

// The snapshot itself cannot be changed: not through a new descriptor on its
// /proc path (what libcryptsetup opens), not by truncating or growing it.
TEST_F(HeaderAttack, SnapshotRefusesWritesThroughItsPath) {
    auto snapshot = engine::take_unlock_snapshot(img_);
    ASSERT_TRUE(snapshot) << snapshot.error().message;
    const int fd = ::open(snapshot->path().c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    const char zero[16] = {};
    errno = 0;
    EXPECT_EQ(::pwrite(fd, zero, sizeof zero, 0), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_NE(::ftruncate(fd, 4096), 0);
    EXPECT_NE(::ftruncate(fd, static_cast<off_t>(snapshot->bytes().size()) + 4096), 0);
    Bytes back(snapshot->bytes().size());
    ASSERT_EQ(::pread(fd, back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
    EXPECT_TRUE(back == snapshot->bytes());
    ::close(fd);
}

// The snapshot holds the headers and the token keyslot's area as on disk, in a
// memfd of the metadata's full size; other keyslots' areas (the passphrase's)
// are not copied. A selector naming an area outside the keyslots area is refused.
TEST_F(HeaderAttack, SnapshotCopiesOnlyTheHeadersAndTheTokenKeyslotArea) {
    auto snapshot = engine::take_unlock_snapshot(img_);
    ASSERT_TRUE(snapshot) << snapshot.error().message;
    auto volume = luks::Volume::open(img_);
    ASSERT_TRUE(volume) << volume.error().message;
    const auto doc = json::parse(*volume->metadata_json());
    const auto area_of = [&](const std::string& slot) {
        const auto& a = doc["keyslots"][slot]["area"];
        return std::pair{std::stoull(a["offset"].get<std::string>()), std::stoull(a["size"].get<std::string>())};
    };
    const std::uint64_t full = snapshot->bytes().size() + std::stoull(doc["config"]["keyslots_size"].get<std::string>());
    const int fd = ::open(snapshot->path().c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    struct stat st {};
    ASSERT_EQ(::fstat(fd, &st), 0);
    EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), full);
    std::ifstream disk(img_, std::ios::binary);
    const auto read_both = [&](std::uint64_t offset, std::uint64_t size) {
        Bytes mem(size), dsk(size);
        EXPECT_EQ(::pread(fd, mem.data(), size, static_cast<off_t>(offset)), static_cast<ssize_t>(size));
        disk.seekg(static_cast<std::streamoff>(offset));
        disk.read(reinterpret_cast<char*>(dsk.data()), static_cast<std::streamsize>(size));
        return std::pair{mem, dsk};
    };
    const auto [ours_offset, ours_size] = area_of(slot());
    const auto [mem, dsk] = read_both(ours_offset, ours_size);
    EXPECT_TRUE(mem == dsk) << "the token keyslot's area differs from the disk";
    bool other_seen = false;
    for (const auto& [id, ks] : doc["keyslots"].items()) {
        if (id == slot()) continue;
        other_seen = true;
        const auto [offset, size] = area_of(id);
        const auto [m, d] = read_both(offset, size);
        EXPECT_TRUE(std::all_of(m.begin(), m.end(), [](std::uint8_t b) { return b == 0; })) << "keyslot " << id << " was copied";
        EXPECT_FALSE(std::all_of(d.begin(), d.end(), [](std::uint8_t b) { return b == 0; }));
    }
    EXPECT_TRUE(other_seen) << "the fixture has no other keyslot";
    ::close(fd);

    const auto outside = luks::HeaderSnapshot::take(img_, [](ByteView headers) {
        return std::vector<luks::SnapshotArea>{{headers.size() - 4096, 8192}};
    });
    ASSERT_FALSE(outside);
    EXPECT_TRUE(contains(outside.error().message, "outside the keyslots area")) << outside.error().message;
    const auto past_end = luks::HeaderSnapshot::take(img_, [&](ByteView) {
        return std::vector<luks::SnapshotArea>{{full - 4096, 8192}};
    });
    EXPECT_FALSE(past_end);
}

// 5. The plugin on a genuine volume: it unlocks with the vTPM; without one it
// fails cleanly and cryptsetup falls back to the passphrase; luksDump shows
// our token.
TEST_F(HeaderAttack, PluginUnlocksGenuineVolumeAndFailsCleanlyWithoutTpm) {
    const auto ok = token_open(img_, tcti());
    EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    EXPECT_TRUE(contains(ok.out + ok.err, "cvmunlock: unsealed from the vTPM (token " + std::to_string(token_) +
                                              ", keyslot " + slot() + ")"))
        << ok.out << ok.err;

    const std::string no_tpm = "swtpm:host=127.0.0.1,port=" + std::to_string(unused_port());
    const auto down = token_open(img_, no_tpm);
    EXPECT_NE(down.exit_code, 0) << down.out << down.err;
    EXPECT_LT(down.exit_code, 128) << "cryptsetup was killed by a signal";
    EXPECT_TRUE(contains(down.err, "cvmunlock: token " + std::to_string(token_) + " refused: cannot open the TPM"))
        << down.err;

    const auto fallback = plugin_->run({"cryptsetup", "open", "--test-passphrase", "-v", "--key-file", key_, img_}, no_tpm);
    EXPECT_EQ(fallback.exit_code, 0) << fallback.out << fallback.err;
    EXPECT_TRUE(contains(fallback.err, "refused: cannot open the TPM")) << fallback.err;
    EXPECT_TRUE(contains(fallback.out, "Key slot 0 unlocked.")) << fallback.out;

    const auto dump = plugin_->run({"cryptsetup", "luksDump", img_}, tcti());
    EXPECT_EQ(dump.exit_code, 0) << dump.err;
    EXPECT_TRUE(contains(dump.out, "cvmunlock PCRs: 7 (sha256)")) << dump.out;
}

}  // namespace
}  // namespace cvmunlock
