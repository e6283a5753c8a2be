#include "synthetic_log.hpp"

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "cvmunlock/hash.hpp"
#include "uefi_payloads.hpp"

namespace cvmunlock::bench {

namespace {

namespace et = event_type;

constexpr std::uint64_t kSeed = 0x63766D756E6C6F63ULL;  // "cvmunloc"
constexpr std::array<HashAlg, 3> kBanks = {HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384};
constexpr std::array<std::uint8_t, 4> kSeparatorData = {0, 0, 0, 0};  // PFP: EV_SEPARATOR data is 0x00000000

// EFI_LOAD_OPTION attributes (UEFI 2.10 section 3.1.3).
constexpr std::uint32_t kLoadOptionActive = 0x1;
constexpr std::uint32_t kLoadOptionHiddenApp = 0x109;  // ACTIVE | HIDDEN | CATEGORY_APP (UiApp)

// Linux EFI stub tagged events (drivers/firmware/efi/libstub/efi-stub-helper.c).
constexpr std::uint32_t kLinuxInitrdTag = 0x8F3B22EC;
constexpr std::uint32_t kLinuxLoadOptionsTag = 0x8F3B22ED;

constexpr std::uint64_t kDiskSectors = 4194304;  // 2 GiB, 512-byte sectors
constexpr std::string_view kDiskGuid = "3f1c5a9e-7b2d-4e8f-a061-92c4d5e6f708";
const GptPartition kRootPartition{1, 262144, 4194270, guids::kLinuxFilesystem,
                                  "5f3c9b2e-8d41-4e7a-9c60-1b2d3e4f5a6b", ""};
const GptPartition kBiosBootPartition{14, 2048, 8191, guids::kBiosBootPartition,
                                      "0a1b2c3d-4e5f-4607-8899-aabbccddeeff", ""};
const GptPartition kEspPartition{15, 8192, 262143, guids::kEfiSystemPartition,
                                 "7e2d4c6b-1a3f-4b5d-8c9e-0f1a2b3c4d5e", ""};

constexpr std::string_view kShimPath = "\\EFI\\debian\\shimx64.efi";
constexpr std::string_view kKernel = "/vmlinuz-6.1.0-13-amd64";
constexpr std::string_view kInitrd = "/initrd.img-6.1.0-13-amd64";
constexpr std::string_view kKernelArgs = "root=UUID=5f3c9b2e-8d41-4e7a-9c60-1b2d3e4f5a6b ro console=ttyS0 quiet";

ByteView as_bytes(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

Bytes ascii(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes c_string(std::string_view s) {
    Bytes out(s.begin(), s.end());
    out.push_back(0);
    return out;
}

// Appends records up to a fixed count; the first hashing error is kept and
// returned by finish(), later records are then dropped.
class LogBuilder {
public:
    explicit LogBuilder(std::size_t records) : limit_(records) {
        SpecIdEvent spec;  // PFP defaults: platformClass 0 (client), version 2.0 errata 0, UINT64 UINTN
        for (HashAlg alg : kBanks) {
            spec.algorithms.push_back({static_cast<std::uint16_t>(alg), static_cast<std::uint16_t>(hash_alg_size(alg))});
        }
        log_.format = LogFormat::CryptoAgile;
        log_.spec_id = spec;
        log_.events.reserve(records);
        log_.events.push_back(make_spec_id_record(spec));
    }

    [[nodiscard]] std::size_t room() const { return limit_ - log_.events.size(); }

    // A record whose digest in every bank is the hash of `measured`.
    void add(std::uint32_t pcr, std::uint32_t type, Bytes data, ByteView measured) {
        if (room() == 0 || error_) return;
        Event ev;
        ev.pcr = pcr;
        ev.type = type;
        for (HashAlg alg : kBanks) {
            auto digest = hash_bytes(alg, measured);
            if (!digest) {
                error_ = digest.error().context("hashing synthetic record " + std::to_string(log_.events.size()));
                return;
            }
            ev.digests.push_back({static_cast<std::uint16_t>(alg), std::move(*digest)});
        }
        ev.data = std::move(data);
        log_.events.push_back(std::move(ev));
    }

    // A record whose digest is the hash of its own event data.
    void add_hashed(std::uint32_t pcr, std::uint32_t type, Bytes data) {
        const Bytes measured = data;
        add(pcr, type, std::move(data), measured);
    }

    // grub and shim: EV_IPL data is "<prefix> <text>\0" and the digest is the hash of <text>.
    void add_ipl_string(std::uint32_t pcr, std::string_view prefix, std::string_view text) {
        add(pcr, et::kIpl, c_string(std::string(prefix) + " " + std::string(text)), as_bytes(text));
    }

    Result<EventLog> finish() {
        if (error_) return std::unexpected(*error_);
        return std::move(log_);
    }

private:
    EventLog log_;
    std::size_t limit_;
    std::optional<Error> error_;
};

// A file on the ESP: short form (HD node first) as boot variables hold it, or
// the full path from the PCI root as the firmware resolves it for an image load.
Bytes esp_file_path(std::string_view file, bool from_pci_root) {
    Bytes path;
    if (from_pci_root) {
        append_pci_root(path);
        append_pci(path, 0x04, 0x00);
    }
    append_hard_drive(path, kEspPartition);
    append_file_path(path, file);
    append_end(path);
    return path;
}

Bytes microsoft_uefi_ca() { return certificate_stand_in("Microsoft Corporation UEFI CA 2011", 1556); }

// OVMF: CRTM version and firmware volumes (PCR 0, the bases and sizes of
// Debian 12's OVMF), SMBIOS hand-off table (PCR 1).
void measure_firmware(LogBuilder& b) {
    b.add_hashed(0, et::kSCrtmVersion, utf16le("edk2-stable202211", true));
    b.add(0, et::kEfiPlatformFirmwareBlob, firmware_blob(0x820000, 0xE0000), filler("PEIFV", 4096));
    b.add(0, et::kEfiPlatformFirmwareBlob, firmware_blob(0x900000, 0xC00000), filler("DXEFV", 4096));
    b.add(1, et::kEfiHandoffTables, handoff_table(guids::kSmbios3Table, 0x7F8E9000), filler("SMBIOS", 512));
}

// EDK2 Tcg2Dxe: Secure Boot policy variables into PCR 7, whole UEFI_VARIABLE_DATA hashed.
void measure_secure_boot(LogBuilder& b) {
    const std::array<std::uint8_t, 1> enabled = {1};
    b.add_hashed(7, et::kEfiVariableDriverConfig, uefi_variable(guids::kGlobalVariable, "SecureBoot", enabled));
    const Bytes pk = signature_list(guids::kCertX509, "a0baa8a3-041d-48a8-bc87-c36d121b5e3d",
                                    {certificate_stand_in("PK: OVMF platform key", 806)});
    b.add_hashed(7, et::kEfiVariableDriverConfig, uefi_variable(guids::kGlobalVariable, "PK", pk));
    Bytes kek = signature_list(guids::kCertX509, guids::kMicrosoftOwner,
                               {certificate_stand_in("Microsoft Corporation KEK CA 2011", 1516)});
    const Bytes kek2023 = signature_list(guids::kCertX509, guids::kMicrosoftOwner,
                                         {certificate_stand_in("Microsoft Corporation KEK 2K CA 2023", 1454)});
    kek.insert(kek.end(), kek2023.begin(), kek2023.end());
    b.add_hashed(7, et::kEfiVariableDriverConfig, uefi_variable(guids::kGlobalVariable, "KEK", kek));
    Bytes db = signature_list(guids::kCertX509, guids::kMicrosoftOwner,
                              {certificate_stand_in("Microsoft Windows Production PCA 2011", 1499)});
    const Bytes uefi_ca = signature_list(guids::kCertX509, guids::kMicrosoftOwner, {microsoft_uefi_ca()});
    db.insert(db.end(), uefi_ca.begin(), uefi_ca.end());
    b.add_hashed(7, et::kEfiVariableDriverConfig, uefi_variable(guids::kImageSecurityDatabase, "db", db));
    std::vector<Bytes> revoked;
    // 371 SHA-256 entries: 17836 bytes, the size of the 2023 dbx in go-tpm-tools/ubuntu-2404-amd-sevsnp.bin.
    for (int i = 0; i < 371; ++i) revoked.push_back(filler("dbx " + std::to_string(i), 32));
    const Bytes dbx = signature_list(guids::kCertSha256, guids::kMicrosoftOwner, revoked);
    b.add_hashed(7, et::kEfiVariableDriverConfig, uefi_variable(guids::kImageSecurityDatabase, "dbx", dbx));
    b.add_hashed(7, et::kSeparator, Bytes(kSeparatorData.begin(), kSeparatorData.end()));
}

// EDK2 BDS: boot variables into PCR 1 (EDK2 hashes only VariableData for
// these), the boot attempt into PCR 4, then the separators for PCR 0-6.
void measure_boot_options(LogBuilder& b) {
    const Bytes order = {0x01, 0x00, 0x00, 0x00, 0x02, 0x00};  // Boot0001, Boot0000, Boot0002
    Bytes ui_app;
    append_fv_file(ui_app, "7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1", "462caa21-7614-4503-836e-8ab6f4662331");
    append_end(ui_app);
    Bytes disk;
    append_pci_root(disk);
    append_pci(disk, 0x04, 0x00);
    append_end(disk);
    const std::array<std::pair<std::string_view, Bytes>, 4> variables = {{
        {"BootOrder", order},
        {"Boot0001", load_option(kLoadOptionActive, "debian", esp_file_path(kShimPath, false))},
        {"Boot0000", load_option(kLoadOptionHiddenApp, "UiApp", ui_app)},
        {"Boot0002", load_option(kLoadOptionActive, "UEFI Misc Device", disk)},
    }};
    for (const auto& [name, value] : variables) {
        b.add(1, et::kEfiVariableBoot, uefi_variable(guids::kGlobalVariable, name, value), value);
    }
    b.add_hashed(4, et::kEfiAction, ascii("Calling EFI Application from Boot Option"));
    for (std::uint32_t pcr = 0; pcr <= 6; ++pcr) {
        b.add_hashed(pcr, et::kSeparator, Bytes(kSeparatorData.begin(), kSeparatorData.end()));
    }
}

// EFI_SIGNATURE_DATA: SignatureOwner(16) SignatureData, as EV_EFI_VARIABLE_AUTHORITY carries it.
Bytes signature_data(std::string_view owner_guid, const Bytes& certificate) {
    Bytes out = guid(owner_guid);
    out.insert(out.end(), certificate.begin(), certificate.end());
    return out;
}

// Firmware: the db entry that verified shim (PCR 7), the partition table
// (PCR 5), shim (PCR 4). shim: MOK state (PCR 14), SBAT level and its vendor
// certificate (PCR 7), grub (PCR 4, a buffer load: file-path node only).
void load_shim_and_grub(LogBuilder& b) {
    b.add_hashed(7, et::kEfiVariableAuthority,
                 uefi_variable(guids::kImageSecurityDatabase, "db", signature_data(guids::kMicrosoftOwner, microsoft_uefi_ca())));
    b.add_hashed(5, et::kEfiGptEvent,
                 gpt_event(kDiskGuid, kDiskSectors, {kRootPartition, kBiosBootPartition, kEspPartition}));
    b.add(4, et::kEfiBootServicesApplication, image_load_event(0x7D6A1018, 955392, esp_file_path(kShimPath, true)),
          as_bytes("authenticode: shimx64.efi"));
    b.add(14, et::kIpl, c_string("MokList"), filler("MokList", 76));
    b.add(14, et::kIpl, c_string("MokListX"), filler("MokListX", 76));
    const std::string_view sbat = "sbat,1,2023012900\nshim,2\ngrub,3\ngrub.debian,4\n";
    b.add_hashed(7, et::kEfiVariableAuthority, uefi_variable(guids::kShimLock, "SbatLevel", as_bytes(sbat)));
    const std::array<std::uint8_t, 1> trusted = {1};
    b.add(14, et::kIpl, c_string("MokListTrusted"), trusted);
    const Bytes vendor = certificate_stand_in("Debian Secure Boot CA", 1252);
    b.add_hashed(7, et::kEfiVariableAuthority, uefi_variable(guids::kShimLock, "Shim", signature_data(guids::kShimLock, vendor)));
    Bytes grub_path;
    append_file_path(grub_path, "\\EFI\\debian\\grubx64.efi");
    append_end(grub_path);
    b.add(4, et::kEfiBootServicesApplication, image_load_event(0x7C9E5018, 2396160, grub_path),
          as_bytes("authenticode: grubx64.efi"));
}

// grub's TPM module: every command line into PCR 8, every file it reads into
// PCR 9 (the digest is the hash of the file). '#' in a command stands for a
// number that varies.
constexpr std::array<std::string_view, 32> kGrubCommands = {
    "set timeout=#", "set default=0", "load_env", "[ -s (hd0,gpt1)/boot/grub/grubenv ]", "set have_grubenv=true",
    "[ # = 1 ]", "[ xy = xy ]", "menuentry_id_option=--id", "export menuentry_id_option", "[ -z  ]",
    "set menu_color_normal=cyan/blue", "set menu_color_highlight=white/blue", "[ efi = efi ]", "terminal_output gfxterm",
    "set gfxmode=auto", "search --no-floppy --fs-uuid --set=root 5f3c9b2e-8d41-4e7a-9c60-1b2d3e4f5a6b",
    "loadfont unicode", "set locale_dir=$prefix/locale", "set lang=en_US", "set gfxpayload=keep", "load_video",
    "menuentry Debian GNU/Linux, with Linux 6.1.0-#-amd64 --class debian --class gnu-linux --class gnu --class os {",
    "submenu Advanced options for Debian GNU/Linux $menuentry_id_option gnulinux-advanced-5f3c9b2e {",
    "fwsetup --is-supported", "[ -f (hd0,gpt1)/boot/grub/custom.cfg ]", "set timeout_style=menu", "set root=hd0,gpt1",
    "echo Loading Linux 6.1.0-#-amd64 ...", "[ -n true ]", "save_env recordfail", "set recordfail=#", "[ # != 1 ]",
};
constexpr std::array<std::string_view, 16> kGrubModules = {
    "part_gpt", "ext2", "gzio", "all_video", "gfxterm", "font", "png", "echo",
    "test", "search_fs_uuid", "linux", "chain", "loadenv", "regexp", "sleep", "efi_gop",
};
constexpr std::string_view kGrubModuleDir = "(hd0,gpt1)/boot/grub/x86_64-efi/";

std::string expand(std::string_view command, std::uint64_t number) {
    std::string out;
    for (char c : command) {
        if (c == '#') {
            out += std::to_string(number);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

void grub_reads(LogBuilder& b, const std::string& path) {
    b.add(9, et::kIpl, c_string(path), as_bytes("contents of " + path));
}

void grub_step(LogBuilder& b, std::uint64_t& rng, bool pair_fits) {
    const std::uint64_t pick = splitmix64(rng) % 100;
    const std::uint64_t number = splitmix64(rng) % 64;
    if (pick < 60 || !pair_fits) {
        b.add_ipl_string(8, "grub_cmd:", expand(kGrubCommands[splitmix64(rng) % kGrubCommands.size()], number));
    } else if (pick < 85) {
        const std::string module(kGrubModules[number % kGrubModules.size()]);
        b.add_ipl_string(8, "grub_cmd:", "insmod " + module);
        grub_reads(b, std::string(kGrubModuleDir) + module + ".mod");
    } else if (pick < 97) {
        const std::string file = "(hd0,gpt1)/boot/grub/custom.d/" + std::to_string(number) + ".cfg";
        b.add_ipl_string(8, "grub_cmd:", "source " + file);
        grub_reads(b, file);
    } else {
        const std::string tool = "memtest" + std::to_string(number) + ".efi";
        b.add_ipl_string(8, "grub_cmd:", "chainloader (hd0,gpt15)/EFI/tools/" + tool);
        b.add(4, et::kEfiBootServicesApplication,
              image_load_event(0x7B000018 + number * 0x10000, 151552, esp_file_path("\\EFI\\tools\\" + tool, true)),
              as_bytes("authenticode: " + tool));
    }
}

// Fills the log with grub's command stream, leaving `reserve` records.
void run_grub(LogBuilder& b, std::size_t reserve) {
    grub_reads(b, "(hd0,gpt15)/EFI/debian/grub.cfg");
    b.add_ipl_string(8, "grub_cmd:", "search.fs_uuid 5f3c9b2e-8d41-4e7a-9c60-1b2d3e4f5a6b root hd0,gpt1");
    b.add_ipl_string(8, "grub_cmd:", "set prefix=($root)/boot/grub");
    b.add_ipl_string(8, "grub_cmd:", "configfile ($root)/boot/grub/grub.cfg");
    grub_reads(b, "(hd0,gpt1)/boot/grub/grub.cfg");
    std::uint64_t rng = kSeed;
    while (b.room() > reserve) grub_step(b, rng, b.room() >= reserve + 2);
}

// grub's linux/initrd commands (the kernel also passes through shim's
// LoadImage: PCR 4, no device path), then the Linux EFI stub's tagged events
// and ExitBootServices (PCR 5).
constexpr std::size_t kLinuxRecords = 10;
void boot_linux(LogBuilder& b) {
    const std::string cmdline = std::string(kKernel) + " " + std::string(kKernelArgs);
    b.add_ipl_string(8, "grub_cmd:", "linux " + cmdline);
    b.add(9, et::kIpl, c_string(kKernel), filler("vmlinuz", 1024));
    b.add(4, et::kEfiBootServicesApplication, image_load_event(0x7A400000, 8247232, {}),
          as_bytes("authenticode: vmlinuz"));
    b.add_ipl_string(8, "kernel_cmdline:", cmdline);
    b.add_ipl_string(8, "grub_cmd:", "initrd " + std::string(kInitrd));
    const Bytes initrd = filler("initrd", 4096);
    b.add(9, et::kIpl, c_string(kInitrd), initrd);
    b.add(9, et::kEventTag, tagged_event(kLinuxLoadOptionsTag, c_string("LOADED_IMAGE::LoadOptions")),
          utf16le(kKernelArgs, true));
    b.add(9, et::kEventTag, tagged_event(kLinuxInitrdTag, c_string("Linux initrd")), initrd);
    b.add_hashed(5, et::kEfiAction, ascii("Exit Boot Services Invocation"));
    b.add_hashed(5, et::kEfiAction, ascii("Exit Boot Services Returned with Success"));
}

}  // namespace

Result<EventLog> build_synthetic_log(std::size_t records) {
    if (records == 0) return fail(ErrorCode::InvalidInput, "a log needs at least its Spec ID record");
    LogBuilder b(records);
    measure_firmware(b);
    measure_secure_boot(b);
    measure_boot_options(b);
    load_shim_and_grub(b);
    run_grub(b, kLinuxRecords);
    boot_linux(b);
    return b.finish();
}

}  // namespace cvmunlock::bench
