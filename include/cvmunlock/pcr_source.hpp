// Where reference PCR values come from (a TPM, a file); implemented by adapters.
#pragma once

#include <cstdint>
#include <map>
#include <set>

#include "cvmunlock/replay.hpp"

namespace cvmunlock {

using PcrSelection = std::map<HashAlg, std::set<std::uint32_t>>;

class PcrSource {
public:
    virtual ~PcrSource() = default;
    // Values of the selected PCRs for every selected bank the source has;
    // banks it does not have are left out of the result.
    virtual Result<PcrValues> read_pcrs(const PcrSelection& selection) = 0;
};

}  // namespace cvmunlock
