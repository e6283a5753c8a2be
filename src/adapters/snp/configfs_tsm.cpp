#include "configfs_tsm.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include <cerrno>
#include <charconv>
#include <optional>
#include <cstring>
#include <utility>

#include "cert_table.hpp"
#include "file/read_file.hpp"
#include "fresh_report.hpp"

namespace cvmunlock::snp {

namespace {

constexpr std::size_t kMaxAttrSize = 1U << 20;  // outblob/auxblob are at most a few pages

Error errno_error(const std::string& what, int err) {
    const ErrorCode code = err == ENOENT ? ErrorCode::NotFound : ErrorCode::Internal;
    return Error(code, what + ": " + std::strerror(err), err);
}

class RealTsmFs final : public TsmFs {
public:
    Result<void> mkdir(const std::string& path) override {
        if (::mkdir(path.c_str(), 0700) != 0) return std::unexpected(errno_error("mkdir " + path, errno));
        return {};
    }
    Result<void> rmdir(const std::string& path) override {
        if (::rmdir(path.c_str()) != 0) return std::unexpected(errno_error("rmdir " + path, errno));
        return {};
    }
    Result<Bytes> read_file(const std::string& path) override {
        auto data = file::read_all(path, kMaxAttrSize);
        if (!data && data.error().native == ENOENT) return std::unexpected(errno_error(path, ENOENT));
        return data;
    }
    Result<void> write_file(const std::string& path, ByteView data) override {
        const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) return std::unexpected(errno_error("open " + path, errno));
        const ssize_t n = ::write(fd, data.data(), data.size());
        const int write_err = errno;
        // configfs hands binary attributes to the provider on release: close
        // reports what the write could not.
        const int closed = ::close(fd);
        const int close_err = errno;
        if (n < 0) return std::unexpected(errno_error("write " + path, write_err));
        if (static_cast<std::size_t>(n) != data.size()) {
            return fail(ErrorCode::Internal, "write " + path + ": short write of " + std::to_string(n) + " bytes");
        }
        if (closed != 0) return std::unexpected(errno_error("close " + path, close_err));
        return {};
    }
};

std::string trimmed_text(const Bytes& bytes) {
    std::string s(bytes.begin(), bytes.end());
    while (!s.empty() && (s.back() == '\n' || s.back() == '\0' || s.back() == ' ')) s.pop_back();
    return s;
}

Result<std::uint64_t> read_generation(TsmFs& fs, const TsmEntry& entry) {
    auto data = fs.read_file(entry.attr("generation"));
    if (!data) return std::unexpected(data.error().context("configfs-tsm generation"));
    const std::string text = trimmed_text(*data);
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || p != text.data() + text.size()) {
        return fail(ErrorCode::InvalidInput, entry.attr("generation") + ": not a number: '" + text + "'");
    }
    return v;
}

bool throttled(const Error& e) { return e.native == EAGAIN || e.native == EBUSY || e.native == ETIMEDOUT; }

}  // namespace

std::unique_ptr<TsmFs> make_real_tsm_fs() { return std::make_unique<RealTsmFs>(); }

Result<TsmEntry> TsmEntry::create(TsmFs& fs, const std::string& report_dir, const std::string& prefix) {
    std::uint8_t random[8];
    if (RAND_bytes(random, sizeof random) != 1) return fail(ErrorCode::Internal, "RAND_bytes failed");
    std::string path = report_dir + "/" + prefix + "-" + std::to_string(::getpid()) + "-" + to_hex(random);
    auto made = fs.mkdir(path);
    if (!made) {
        if (made.error().code == ErrorCode::NotFound) {
            return fail(ErrorCode::Unavailable, report_dir + ": no configfs-tsm report directory (Linux 6.7+ with "
                                                             "configfs mounted)", made.error().native);
        }
        return std::unexpected(made.error().context("configfs-tsm"));
    }
    return TsmEntry(fs, std::move(path));
}

TsmEntry::TsmEntry(TsmEntry&& other) noexcept : fs_(other.fs_), path_(std::move(other.path_)) {
    other.path_.clear();
}

TsmEntry::~TsmEntry() {
    if (!path_.empty()) (void)fs_->rmdir(path_);  // nothing to do if it fails: the entry holds no secret
}

Result<std::string> probe_tsm_provider(TsmFs& fs, const std::string& report_dir) {
    auto entry = TsmEntry::create(fs, report_dir, "cvmunlock-probe");
    if (!entry) return std::unexpected(entry.error());
    auto provider = fs.read_file(entry->attr("provider"));
    if (!provider) return std::unexpected(provider.error().context("configfs-tsm provider"));
    return trimmed_text(*provider);
}

TsmSource::TsmSource(std::unique_ptr<TsmFs> fs, TsmOptions options)
    : fs_(std::move(fs)), options_(std::move(options)) {}

namespace {

struct Blobs {
    Bytes outblob;
    std::optional<Bytes> auxblob;
};

// Checks the provider and writes privlevel: nothing reaches the firmware yet.
Result<void> prepare_entry(TsmFs& fs, const TsmEntry& entry, const TsmOptions& options, const std::string& origin) {
    auto provider = fs.read_file(entry.attr("provider"));
    if (!provider) return std::unexpected(provider.error().context(origin + " provider"));
    if (trimmed_text(*provider) != kTsmProviderSnp) {
        return fail(ErrorCode::Unavailable, origin + ": provider is '" + trimmed_text(*provider) + "', not '" +
                                                kTsmProviderSnp + "': this is not an SEV-SNP report");
    }
    if (options.privlevel) {
        const std::string level = std::to_string(*options.privlevel) + "\n";
        const Bytes text(level.begin(), level.end());
        if (auto wrote = fs.write_file(entry.attr("privlevel"), text); !wrote) {
            return std::unexpected(wrote.error().context(origin + " privlevel"));
        }
    }
    return {};
}

// One inblob write and the reads it answers, bracketed by generation reads.
Result<Blobs> exchange(TsmFs& fs, const TsmEntry& entry, const ReportData& report_data, const std::string& origin) {
    auto before = read_generation(fs, entry);
    if (!before) return std::unexpected(before.error());
    if (auto wrote = fs.write_file(entry.attr("inblob"), report_data); !wrote) {
        return std::unexpected(wrote.error().context(origin + " inblob"));
    }
    Blobs blobs;
    auto outblob = fs.read_file(entry.attr("outblob"));
    if (!outblob) {
        Error e = outblob.error().context(origin + " outblob");
        if (throttled(e)) {
            e.code = ErrorCode::Unavailable;
            e.message += ": the host is throttling guest requests; not retried, try again later";
        }
        return std::unexpected(e);
    }
    blobs.outblob = std::move(*outblob);
    auto auxblob = fs.read_file(entry.attr("auxblob"));
    if (auxblob) {
        blobs.auxblob = std::move(*auxblob);
    } else if (auxblob.error().code != ErrorCode::NotFound) {  // no auxblob before Linux 6.7's SNP support
        return std::unexpected(auxblob.error().context(origin + " auxblob"));
    }
    auto after = read_generation(fs, entry);
    if (!after) return std::unexpected(after.error());
    if (*after != *before + 1) {
        return fail(ErrorCode::Unavailable, origin + ": generation went from " + std::to_string(*before) + " to " +
                                                std::to_string(*after) + " around our single inblob write: "
                                                "another writer used this entry, so the outblob is not ours; "
                                                "refused, not repeated");
    }
    return blobs;
}

}  // namespace

Result<Evidence> TsmSource::fetch(const ReportData& report_data) {
    auto entry = TsmEntry::create(*fs_, options_.report_dir);
    if (!entry) return std::unexpected(entry.error());
    const std::string origin = "configfs-tsm " + entry->path();
    if (auto ready = prepare_entry(*fs_, *entry, options_, origin); !ready) return std::unexpected(ready.error());
    auto blobs = exchange(*fs_, *entry, report_data, origin);
    if (!blobs) return std::unexpected(blobs.error());
    auto report = check_fresh_report(blobs->outblob, report_data, options_.privlevel, origin);
    if (!report) return std::unexpected(report.error());

    Evidence ev;
    ev.kind = EvidenceKind::Tsm;
    ev.report = std::move(blobs->outblob);
    ev.origin = "configfs-tsm";
    if (blobs->auxblob) {
        auto table = parse_cert_table(*blobs->auxblob, origin + " auxblob");
        if (!table) return std::unexpected(table.error());
        ev.certs = known_certificates(*table);
    }
    return ev;
}

}  // namespace cvmunlock::snp
