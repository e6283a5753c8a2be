// In-process fakes of what cannot run here: the sev-guest driver + SNP
// firmware behind /dev/sev-guest, and the kernel's configfs-tsm report
// directory. Both answer with reports signed by a TestChain VCEK and a
// certificate table carrying the chain's VCEK, ASK and ARK (DER).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "snp/configfs_tsm.hpp"
#include "snp/sev_guest.hpp"
#include "snp_test_chain.hpp"

namespace cvmunlock::testing {

// The host's certificate table: VCEK, ASK, ARK, plus `extra_bytes` of an
// unknown-GUID entry (to make the table as large as a test needs).
Bytes host_cert_table(const TestChain& chain, std::size_t extra_bytes = 0);
// The report the firmware would produce for this request (signed by the chain).
Bytes firmware_report(const TestChain& chain, const snp::ReportData& user_data, std::uint32_t vmpl);

// Behaves like drivers/virt/coco/sev-guest + the SNP firmware (Linux 6.x).
class FakeSevGuest final : public snp::GuestDevice {
public:
    explicit FakeSevGuest(const TestChain& chain) : chain_(chain) {}
    int ioctl(unsigned long request, void* arg) override;

    // Knobs.
    std::uint32_t current_vmpl = 0;
    std::uint32_t firmware_status = 0;         // non-zero: MSG_REPORT_RSP.STATUS
    int fail_errno = 0;                        // the ioctl fails with this errno...
    std::uint64_t fail_exitinfo2 = 0;          // ...and this SW_EXITINFO2
    std::size_t extra_cert_bytes = 0;          // grows the host's certificate table
    bool host_has_certs = true;
    bool always_too_small = false;             // the host asks for more every time
    bool stale_report_data = false;            // answers with someone else's REPORT_DATA
    bool corrupt_cert_table = false;           // first entry's offset points past the end
    std::optional<std::uint32_t> report_size;  // overrides MSG_REPORT_RSP.REPORT_SIZE

    // Observations.
    int requests = 0;
    std::vector<unsigned long> request_codes;
    std::vector<std::size_t> certs_lens;  // certs_len of each extended request

private:
    void answer(const void* req, void* resp);
    const TestChain& chain_;
};

// Behaves like the kernel's configfs-tsm report directory with the sev_guest provider.
class FakeTsmFs final : public snp::TsmFs {
public:
    FakeTsmFs(const TestChain& chain, std::string report_dir) : chain_(chain), dir_(std::move(report_dir)) {}

    Result<void> mkdir(const std::string& path) override;
    Result<void> rmdir(const std::string& path) override;
    Result<Bytes> read_file(const std::string& path) override;
    Result<void> write_file(const std::string& path, ByteView data) override;

    // Knobs.
    std::string provider = "sev_guest";
    std::uint32_t privlevel_floor = 0;
    bool racing_writer = false;       // another process writes inblob right after us
    bool racing_same_data = false;    // ...with the same bytes (only the generation shows it)
    bool has_auxblob = true;          // auxblob attribute exists (Linux 6.7+)
    int outblob_errno = 0;            // reading outblob fails with this errno
    bool stale_report_data = false;

    // Observations.
    std::set<std::string> entries;
    int mkdirs = 0, rmdirs = 0, firmware_requests = 0;

private:
    struct Entry {
        std::uint64_t generation = 0;
        Bytes inblob;
        std::uint32_t privlevel = 0;
        std::optional<std::uint64_t> cached_for;  // generation the cached outblob answers
        Bytes outblob;
    };
    Result<Entry*> entry_of(const std::string& path, std::string& attr);
    const TestChain& chain_;
    std::string dir_;
    std::map<std::string, Entry> state_;
};

}  // namespace cvmunlock::testing
