// cvmunlock-test-edit-log IN OUT VARIABLE: writes IN to OUT with the Secure Boot
// variable VARIABLE (db, dbx, KEK, PK, SecureBoot) measured with other content:
// the last byte of its EV_EFI_VARIABLE_DRIVER_CONFIG data changed and every
// digest of that event recomputed, as firmware would measure a changed
// variable. A stand-in for a host that changed the VM's Secure Boot database,
// for the demo and tests (swtpm has no firmware whose variables could change).
#include <cstdio>
#include <fstream>
#include <string>

#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/hash.hpp"
#include "cvmunlock/uefi_variable.hpp"
#include "file/read_file.hpp"

int main(int argc, char** argv) {
    using namespace cvmunlock;
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s IN OUT VARIABLE\n", argv[0]);
        return 2;
    }
    auto bytes = file::read_all(argv[1]);
    if (!bytes) return std::fprintf(stderr, "%s\n", bytes.error().message.c_str()), 4;
    auto log = parse_event_log(*bytes);
    if (!log) return std::fprintf(stderr, "%s: %s\n", argv[1], log.error().message.c_str()), 3;
    const std::string wanted = argv[3];
    for (std::size_t i = 0; i < log->events.size(); ++i) {
        Event& ev = log->events[i];
        if (ev.type != event_type::kEfiVariableDriverConfig) continue;
        auto var = parse_uefi_variable(ev.data);
        if (!var || utf16_to_utf8(var->name) != wanted || var->data.empty()) continue;
        ev.data.back() ^= 0x5A;
        for (auto& d : ev.digests) {
            auto alg = hash_alg_from_id(d.alg_id);
            if (!alg) continue;
            auto h = hash_bytes(*alg, ev.data);
            if (!h) return std::fprintf(stderr, "%s\n", h.error().message.c_str()), 1;
            d.digest = std::move(*h);
        }
        const Bytes out = serialize_event_log(*log);
        std::ofstream(argv[2], std::ios::binary)
            .write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
        std::printf("event #%zu (PCR %u, %s): %s measured with other content\n", i, ev.pcr,
                    "EV_EFI_VARIABLE_DRIVER_CONFIG", wanted.c_str());
        return 0;
    }
    std::fprintf(stderr, "%s: no EV_EFI_VARIABLE_DRIVER_CONFIG event for %s\n", argv[1], wanted.c_str());
    return 1;
}
