// TCB_VERSION (SEV-SNP Firmware ABI spec rev 1.58, "TCB_VERSION Structure";
// layouts as in virtee/sev TcbVersion): one byte per firmware component in a
// little-endian u64.
// Milan and Genoa: byte 0 BOOT_LOADER, 1 TEE, 2-5 reserved, 6 SNP, 7 MICROCODE.
// Turin and later: byte 0 FMC, 1 BOOT_LOADER, 2 TEE, 3 SNP, 4-6 reserved, 7 MICROCODE.
#include <string>

#include "cvmunlock/snp_report.hpp"

namespace cvmunlock::snp {

namespace {

struct TcbLayout {
    int fmc;  // byte index, -1 when the product has no FMC component
    int bootloader;
    int tee;
    int snp;
    int microcode;
};

constexpr TcbLayout kMilanGenoaLayout{-1, 0, 1, 6, 7};
constexpr TcbLayout kTurinLayout{0, 1, 2, 3, 7};

// Unknown (a version 2 report carries no CPUID) decodes as Milan: every
// version 2 report predates Turin.
constexpr const TcbLayout& layout_for(Product product) noexcept {
    return product == Product::Turin ? kTurinLayout : kMilanGenoaLayout;
}

std::uint8_t byte_at(std::uint64_t raw, int index) noexcept {
    return index < 0 ? std::uint8_t{0} : static_cast<std::uint8_t>(raw >> (8 * index));
}

std::uint64_t put_byte(std::uint8_t value, int index) noexcept {
    return index < 0 ? 0 : static_cast<std::uint64_t>(value) << (8 * index);
}

}  // namespace

Tcb decode_tcb(std::uint64_t raw, Product product) noexcept {
    const TcbLayout& l = layout_for(product);
    Tcb tcb;
    tcb.fmc = byte_at(raw, l.fmc);
    tcb.bootloader = byte_at(raw, l.bootloader);
    tcb.tee = byte_at(raw, l.tee);
    tcb.snp = byte_at(raw, l.snp);
    tcb.microcode = byte_at(raw, l.microcode);
    return tcb;
}

std::uint64_t encode_tcb(const Tcb& tcb, Product product) noexcept {
    const TcbLayout& l = layout_for(product);
    return put_byte(tcb.fmc, l.fmc) | put_byte(tcb.bootloader, l.bootloader) | put_byte(tcb.tee, l.tee) |
           put_byte(tcb.snp, l.snp) | put_byte(tcb.microcode, l.microcode);
}

bool tcb_at_least(const Tcb& have, const Tcb& min) noexcept {
    return have.fmc >= min.fmc && have.bootloader >= min.bootloader && have.tee >= min.tee && have.snp >= min.snp &&
           have.microcode >= min.microcode;
}

std::string tcb_to_string(const Tcb& tcb, Product product) {
    std::string out;
    if (product == Product::Turin) out = "fmc=" + std::to_string(tcb.fmc) + " ";
    out += "bl=" + std::to_string(tcb.bootloader) + " tee=" + std::to_string(tcb.tee) +
           " snp=" + std::to_string(tcb.snp) + " ucode=" + std::to_string(tcb.microcode);
    return out;
}

}  // namespace cvmunlock::snp
