#include "fake_guest.hpp"

#include <linux/sev-guest.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "snp/cert_table.hpp"

namespace cvmunlock::testing {

namespace {

constexpr std::uint64_t kNoFwCall = ~0ULL;
constexpr std::uint64_t kInvalidLen = 1ULL << 32;  // SNP_GUEST_VMM_ERR(SNP_GUEST_VMM_ERR_INVALID_LEN)

Bytes der_of_pem(const Bytes& pem) {
    auto certs = snp::Certificate::load_all(pem, "test chain");
    if (!certs || certs->size() != 1) return {};
    return (*certs)[0].der();
}

snp::Guid guid(const char* text) { return *snp::guid_from_string(text); }

std::size_t page_round(std::size_t n) { return (n + snp::kCertsPage - 1) / snp::kCertsPage * snp::kCertsPage; }

Error errno_error(const std::string& what, int err) {
    return Error(err == ENOENT ? ErrorCode::NotFound : ErrorCode::Internal, what + ": " + std::strerror(err), err);
}

}  // namespace

Bytes host_cert_table(const TestChain& chain, std::size_t extra_bytes) {
    std::vector<snp::CertTableEntry> entries{
        {guid(snp::kVcekGuid), snp::CertRole::Vcek, chain.vcek_der()},
        {guid(snp::kAskGuid), snp::CertRole::Ask, der_of_pem(chain.ask_pem())},
        {guid(snp::kArkGuid), snp::CertRole::Ark, der_of_pem(chain.ark_pem())},
    };
    if (extra_bytes > 0) {
        // The CRL GUID of the GHCB table: a role this code does not use.
        entries.push_back(
            {guid("92f81bc3-5811-4d3d-97ff-d19f88dc67ea"), snp::CertRole::Unknown, Bytes(extra_bytes, 0x5a)});
    }
    return snp::build_cert_table(entries);
}

Bytes firmware_report(const TestChain& chain, const snp::ReportData& user_data, std::uint32_t vmpl) {
    snp::Report r = chain.make_report(user_data);
    r.vmpl = vmpl;
    return chain.sign(r);
}

// ---- FakeSevGuest ----

void FakeSevGuest::answer(const void* req_ptr, void* resp_ptr) {
    const auto* req = static_cast<const snp_report_req*>(req_ptr);
    auto* resp = static_cast<snp_report_resp*>(resp_ptr);
    std::memset(resp->data, 0, sizeof resp->data);
    Bytes rsp;
    std::uint32_t status = firmware_status;
    if (status == 0 && (req->vmpl < current_vmpl || req->vmpl > 3)) status = snp::kFwStatusInvalidParam;
    Bytes report;
    if (status == 0) {
        snp::ReportData rd{};
        std::copy(std::begin(req->user_data), std::end(req->user_data), rd.begin());
        if (stale_report_data) rd[0] ^= 0xff;
        report = firmware_report(chain_, rd, req->vmpl);
    }
    append_le32(rsp, status);
    append_le32(rsp, report_size.value_or(static_cast<std::uint32_t>(report.size())));
    rsp.resize(snp::kReportRspReportOffset, 0);
    rsp.insert(rsp.end(), report.begin(), report.end());
    std::memcpy(resp->data, rsp.data(), rsp.size());
}

int FakeSevGuest::ioctl(unsigned long request, void* arg) {
    ++requests;
    request_codes.push_back(request);
    auto* io = static_cast<snp_guest_request_ioctl*>(arg);
    if (io->msg_version == 0) return -EINVAL;
    io->exitinfo2 = kNoFwCall;
    if (!io->req_data || !io->resp_data) return -EINVAL;
    if (fail_errno != 0) {
        io->exitinfo2 = fail_exitinfo2;
        return -fail_errno;
    }
    if (request == SNP_GET_REPORT) {
        answer(reinterpret_cast<const void*>(io->req_data), reinterpret_cast<void*>(io->resp_data));
        io->exitinfo2 = 0;
        return 0;
    }
    if (request != SNP_GET_EXT_REPORT) return -ENOTTY;
    auto* ext = reinterpret_cast<snp_ext_report_req*>(io->req_data);
    certs_lens.push_back(ext->certs_len);
    if (ext->certs_len % snp::kCertsPage != 0) return -EINVAL;
    Bytes table = host_has_certs ? host_cert_table(chain_, extra_cert_bytes) : Bytes{};
    if (corrupt_cert_table && table.size() >= snp::kCertTableEntrySize) {
        table[snp::kCertEntryOffsetField + 2] = 0x7f;  // offset far past the end
    }
    const std::size_t needed = always_too_small ? ext->certs_len + snp::kCertsPage : page_round(table.size());
    if (!table.empty() && ext->certs_len < needed) {
        // Like the driver: it re-issued the message without certs to keep the
        // sequence numbers, and tells the caller the needed size.
        ext->certs_len = static_cast<std::uint32_t>(needed);
        io->exitinfo2 = kInvalidLen;
        return -EIO;
    }
    auto* certs = reinterpret_cast<std::uint8_t*>(ext->certs_address);
    std::memset(certs, 0, ext->certs_len);
    std::copy(table.begin(), table.end(), certs);
    answer(&ext->data, reinterpret_cast<void*>(io->resp_data));
    io->exitinfo2 = 0;
    return 0;
}

// ---- FakeTsmFs ----

Result<FakeTsmFs::Entry*> FakeTsmFs::entry_of(const std::string& path, std::string& attr) {
    const auto slash = path.rfind('/');
    const std::string dir = path.substr(0, slash);
    attr = path.substr(slash + 1);
    auto it = state_.find(dir);
    if (it == state_.end()) return std::unexpected(errno_error(path, ENOENT));
    return &it->second;
}

Result<void> FakeTsmFs::mkdir(const std::string& path) {
    ++mkdirs;
    const auto slash = path.rfind('/');
    if (path.substr(0, slash) != dir_) return std::unexpected(errno_error("mkdir " + path, ENOENT));
    if (state_.count(path) != 0) return std::unexpected(errno_error("mkdir " + path, EEXIST));
    state_[path] = Entry{};
    entries.insert(path);
    return {};
}

Result<void> FakeTsmFs::rmdir(const std::string& path) {
    ++rmdirs;
    if (state_.erase(path) == 0) return std::unexpected(errno_error("rmdir " + path, ENOENT));
    entries.erase(path);
    return {};
}

Result<Bytes> FakeTsmFs::read_file(const std::string& path) {
    std::string attr;
    auto entry = entry_of(path, attr);
    if (!entry) return std::unexpected(entry.error());
    Entry& e = **entry;
    auto text = [](const std::string& s) { return Bytes(s.begin(), s.end()); };
    if (attr == "provider") return text(provider + "\n");
    if (attr == "generation") return text(std::to_string(e.generation) + "\n");
    if (attr == "privlevel_floor") return text(std::to_string(privlevel_floor) + "\n");
    if (attr == "outblob" || (attr == "auxblob" && has_auxblob)) {
        if (e.cached_for != e.generation) {  // the provider runs when a new generation is read
            if (attr == "outblob" && outblob_errno != 0) return std::unexpected(errno_error(path, outblob_errno));
            ++firmware_requests;
            snp::ReportData rd{};
            std::copy_n(e.inblob.begin(), std::min(e.inblob.size(), rd.size()), rd.begin());
            if (stale_report_data) rd[0] ^= 0xff;
            e.outblob = firmware_report(chain_, rd, e.privlevel);
            e.cached_for = e.generation;
        }
        return attr == "outblob" ? e.outblob : host_cert_table(chain_);
    }
    return std::unexpected(errno_error(path, ENOENT));
}

Result<void> FakeTsmFs::write_file(const std::string& path, ByteView data) {
    std::string attr;
    auto entry = entry_of(path, attr);
    if (!entry) return std::unexpected(entry.error());
    Entry& e = **entry;
    if (attr == "inblob") {
        if (data.size() > 64) return std::unexpected(errno_error(path, EINVAL));
        e.inblob.assign(data.begin(), data.end());
        ++e.generation;
        if (racing_writer) {  // someone else writes the same entry before we read
            if (!racing_same_data) e.inblob.assign(64, 0xee);
            ++e.generation;
        }
        return {};
    }
    if (attr == "privlevel") {
        std::string s(data.begin(), data.end());
        while (!s.empty() && s.back() == '\n') s.pop_back();
        std::uint32_t v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec != std::errc() || p != s.data() + s.size() || v > 3 || v < privlevel_floor) {
            return std::unexpected(errno_error(path, EINVAL));
        }
        e.privlevel = v;
        ++e.generation;
        return {};
    }
    return std::unexpected(errno_error(path, EACCES));
}

}  // namespace cvmunlock::testing
