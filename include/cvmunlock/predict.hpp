// Predicting the PCRs of the next boot from this boot's event log and the EFI
// images about to change (issue 12, first part: PCR 4). Each image that the
// firmware, shim or grub loaded is measured into PCR 4 as an
// EV_EFI_BOOT_SERVICES_APPLICATION event whose digest is its PE image hash
// (authenticode.hpp); replacing the digests of an image's events by those of
// its successor and replaying gives the next boot's PCR 4. PCR 7 holds the
// Secure Boot policy: each of PK, KEK, db and dbx is measured as an
// EV_EFI_VARIABLE_DRIVER_CONFIG event whose data is the variable's content, so
// a db or dbx update is predicted by rebuilding that event with the content
// the firmware will hold at the next boot. PCR 7's authority events are
// replayed unchanged: an updated image must be signed under an authority this
// boot already used (a new authority adds an event the log cannot predict), and
// a signed image whose signers none of this boot's authority certificates
// issued is refused (PolicyRefused, naming its issuer).
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

// The image the next boot loads from a file this boot's log names: an EFI
// system partition file that a package update replaced in place (shim and
// grub on the ESP), so the image this boot loaded is gone.
struct EspImage {
    std::string logged_path;  // as the log names it: "\EFI\BOOT\grubx64.efi"
    std::string file;         // where the next image was read, for messages
    ByteView next;
};

// The files this boot's PCR 4 image events name (image_file_path), each once,
// in log order.
std::vector<std::string> boot_chain_files(const EventLog& log);

// The Secure Boot policy variable `name` (PK, KEK, db, dbx, dbt or dbr) will
// hold `data` (its VariableData: EFI_SIGNATURE_LISTs) at the next boot.
// `from_firmware`: `data` is what the firmware holds now. In a confidential VM
// the host controls the firmware's variable store, so such content is taken
// only for dbx and only when it keeps every entry the logged dbx had (a
// revocation list that grew); a db, KEK or PK change comes only from a file
// the operator vetted.
struct VariableUpdate {
    std::string name;
    std::string source;  // for messages: where `data` came from
    ByteView data;
    bool from_firmware = false;
};

struct BootUpdates {
    std::vector<ImageUpdate> images{};
    std::vector<EspImage> esp_images{};
    std::vector<VariableUpdate> variables{};
    bool empty() const { return images.empty() && esp_images.empty() && variables.empty(); }
};

// Whether `name` is a Secure Boot policy variable that a VariableUpdate may name.
bool is_secure_boot_policy_variable(const std::string& name);

struct ReplacedEvent {
    std::size_t index = 0;  // record index in the log
    std::uint32_t pcr = 0;
    std::string image;      // ImageUpdate::current_name, EspImage::file or VariableUpdate::source
    std::string variable;   // VariableUpdate::name; empty for an image
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
// since), or when no PCR 7 event measured a variable to update: the next boot
// cannot be predicted from this log. InvalidInput for an image that is not a
// PE image, a variable that is not a Secure Boot policy variable, or a logged
// variable event whose digest is not that of its data. PolicyRefused for
// firmware-held content other than a grown dbx (VariableUpdate).
Result<Prediction> predict_next_boot(const EventLog& log, const BootUpdates& updates);

}  // namespace cvmunlock
