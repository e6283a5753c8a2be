// Predicting the PCRs of the next boot from this boot's event log and the EFI
// images about to change (issue 12, first part: PCR 4). Each image that the
// firmware, shim or grub loaded is measured into PCR 4 as an
// EV_EFI_BOOT_SERVICES_APPLICATION event whose digest is its PE image hash
// (authenticode.hpp); replacing the digests of an image's events by those of
// its successor and replaying gives the next boot's PCR 4. PCR 7 is replayed
// unchanged: the successor must be signed under an authority this boot already
// used (a new authority adds an event the log cannot predict).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "cvmunlock/eventlog.hpp"
#include "cvmunlock/replay.hpp"

namespace cvmunlock {

struct ImageUpdate {
    std::string current_name;  // for messages: the file this boot loaded
    ByteView current;          // its bytes
    std::string next_name;
    ByteView next;             // the image that replaces it
};

struct ReplacedEvent {
    std::size_t index = 0;  // record index in the log
    std::uint32_t pcr = 0;
    std::string image;      // ImageUpdate::current_name
    std::map<HashAlg, Bytes> logged;     // per bank
    std::map<HashAlg, Bytes> predicted;  // per bank
};

struct Prediction {
    PcrValues current;    // the log replayed as it is
    PcrValues predicted;  // with the replaced digests
    std::vector<ReplacedEvent> replaced;
};

// The log replayed with each update's events replaced, in every bank the log
// records. NotFound, naming the file, when no PCR 4 image event of this log
// has the current image's hash (it did not start this boot, or it changed
// since): the next boot cannot be predicted from this log. InvalidInput for an
// image that is not a PE image.
Result<Prediction> predict_image_updates(const EventLog& log, const std::vector<ImageUpdate>& updates);

}  // namespace cvmunlock
