// cvmunlock-test-extend-log TCTI LOG: extends every measured event of LOG into
// the TPM behind TCTI, as firmware would have during boot. A stand-in for
// firmware in tests and the demo (swtpm has no firmware in front of it).
#include <algorithm>
#include <cstdio>
#include <string>

#include "file/read_file.hpp"
#include "tpm/tpm_context.hpp"

int main(int argc, char** argv) {
    using namespace cvmunlock;
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s TCTI LOG\n", argv[0]);
        return 2;
    }
    auto bytes = file::read_all(argv[2]);
    if (!bytes) return std::fprintf(stderr, "%s\n", bytes.error().message.c_str()), 4;
    auto log = parse_event_log(*bytes);
    if (!log) return std::fprintf(stderr, "%s: %s\n", argv[2], log.error().message.c_str()), 3;
    auto tpm = tpm::TpmContext::open(argv[1]);
    if (!tpm) return std::fprintf(stderr, "%s\n", tpm.error().message.c_str()), 4;
    auto banks = (*tpm)->allocated_banks();
    if (!banks) return std::fprintf(stderr, "%s\n", banks.error().message.c_str()), 4;
    std::size_t extended = 0;
    for (const Event& ev : log->events) {
        if (ev.type == event_type::kNoAction) continue;
        std::vector<EventDigest> digests;
        for (const auto& d : ev.digests) {
            auto alg = hash_alg_from_id(d.alg_id);
            if (alg && std::find(banks->begin(), banks->end(), *alg) != banks->end()) digests.push_back(d);
        }
        if (auto r = (*tpm)->extend(ev.pcr, digests); !r) {
            return std::fprintf(stderr, "%s\n", r.error().message.c_str()), 1;
        }
        ++extended;
    }
    std::printf("extended %zu events into the TPM\n", extended);
    return 0;
}
