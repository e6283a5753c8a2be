#include "guarded_tcti.hpp"

#include <pthread.h>
#include <tss2/tss2_tctildr.h>
#include <tss2/tss2_tpm2_types.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>

#include "cvmunlock/secret.hpp"
#include "tpm_error.hpp"
#include "tpm_names.hpp"

namespace cvmunlock::tpm {

namespace {
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::uint64_t kMagic = 0x6376'6d75'6e6c'636bULL;  // "cvmunlck"
// TPM 2.0 Part 1, 18.2: tag(2) size(4) commandCode(4).
constexpr std::size_t kCommandCodeOffset = 6;
// The worker only runs a TCTI call: a small stack (systemd-cryptsetup mlockall()s
// every mapping, so a default 8 MiB stack would be locked in RAM).
constexpr std::size_t kWorkerStack = 256 * 1024;

// Owns the inner TCTI. Shared with a worker that may outlive the GuardedTcti
// when the TPM never answers; whoever lets go last finalizes it.
struct Channel {
    TSS2_TCTI_CONTEXT* inner = nullptr;
    ~Channel() {
        if (inner != nullptr) Tss2_TctiLdr_Finalize(&inner);
    }
};

// tctildr loads a TCTI named "device" by dlopen("device") first, which the
// dynamic loader looks for in every library directory (a dozen failed opens
// per start in the initramfs), and only then as libtss2-tcti-device.so.0.
// Naming the library directly finds it through ld.so.cache; a name that is
// already a file name or path is left as it is.
std::string library_conf(const std::string& conf) {
    const std::size_t colon = conf.find(':');
    const std::string name = conf.substr(0, colon);
    if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos) {
        return conf;
    }
    return "libtss2-tcti-" + name + ".so.0" + (colon == std::string::npos ? "" : conf.substr(colon));
}

// One call into the inner TCTI, run on a worker thread.
struct Job {
    enum class Kind { Initialize, Command } kind = Kind::Command;
    std::shared_ptr<Channel> channel;
    std::string conf;               // Initialize
    std::vector<std::uint8_t> in;   // Command: the marshaled command
    std::vector<std::uint8_t> out;  // Command: the response
    TSS2_RC rc = TSS2_RC_SUCCESS;
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;

    // Commands and responses may carry sealed data or authorizations (encrypted by the
    // session, but wiped all the same, as every buffer that held TPM traffic).
    ~Job() {
        wipe(in.data(), in.size());
        wipe(out.data(), out.size());
    }

    void run() {
        if (kind == Kind::Initialize) {
            const std::string direct = library_conf(conf);
            rc = Tss2_TctiLdr_Initialize(direct.c_str(), &channel->inner);
            // Not installed under that name: tctildr's own search, as before.
            if (rc != TSS2_RC_SUCCESS && direct != conf) rc = Tss2_TctiLdr_Initialize(conf.c_str(), &channel->inner);
            return;
        }
        rc = Tss2_Tcti_Transmit(channel->inner, in.size(), in.data());
        if (rc != TSS2_RC_SUCCESS) return;
        out.resize(TPM2_MAX_COMMAND_SIZE);
        std::size_t size = out.size();
        rc = Tss2_Tcti_Receive(channel->inner, &size, out.data(), TSS2_TCTI_TIMEOUT_BLOCK);
        out.resize(rc == TSS2_RC_SUCCESS ? size : 0);
    }
};

// The thread that makes the inner TCTI's calls, one job at a time, for one
// GuardedTcti (one thread for all its commands, not one per command). When a
// job does not finish in time, the GuardedTcti sets `quit` and lets the thread
// go: it ends when (if ever) the TPM call returns.
struct Worker {
    std::mutex mutex;
    std::condition_variable cv;
    std::shared_ptr<Job> next;
    bool quit = false;
};

void* worker_main(void* arg) {
    auto* holder = static_cast<std::shared_ptr<Worker>*>(arg);
    std::shared_ptr<Worker> worker = std::move(*holder);
    delete holder;
    for (;;) {
        std::shared_ptr<Job> job;
        {
            std::unique_lock lock(worker->mutex);
            worker->cv.wait(lock, [&] { return worker->quit || worker->next != nullptr; });
            if (worker->quit) return nullptr;
            job = std::move(worker->next);
        }
        job->run();
        {
            std::lock_guard lock(job->mutex);
            job->done = true;
        }
        job->done_cv.notify_all();
    }
}

std::uint32_t command_code(const std::uint8_t* command, std::size_t size) {
    if (size < kCommandCodeOffset + 4) return 0;
    const std::uint8_t* p = command + kCommandCodeOffset;
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
}  // namespace

struct GuardedTcti::Impl {
    TSS2_TCTI_CONTEXT_COMMON_V2 common{};  // must stay first: ESAPI sees this as the TCTI
    TpmLimits limits;
    milliseconds remaining{0};
    std::shared_ptr<Channel> channel = std::make_shared<Channel>();
    std::vector<std::uint32_t> codes;
    std::optional<TpmStall> stall;
    std::vector<std::uint8_t> pending;   // transmitted, not yet run
    std::vector<std::uint8_t> response;  // run, not yet received
    bool have_response = false;

    std::shared_ptr<Worker> worker;
    pthread_t thread{};

    // Runs `job` on the worker (started at the first job) and waits for it
    // within the limits. False when it did not finish in time (the stall is
    // recorded and the worker let go).
    bool run(const std::shared_ptr<Job>& job, std::uint32_t cc) {
        const milliseconds budget = std::min(limits.command, remaining);
        job->channel = channel;
        const auto start = Clock::now();
        if (!worker && !start_worker()) {
            job->rc = TSS2_TCTI_RC_IO_ERROR;  // cannot wait safely: do not call the TPM inline
            return true;
        }
        {
            std::lock_guard lock(worker->mutex);
            worker->next = job;
        }
        worker->cv.notify_one();
        bool finished = false;
        {
            std::unique_lock lock(job->mutex);
            finished = job->done_cv.wait_for(lock, budget, [&] { return job->done; });
        }
        const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
        remaining = waited >= remaining ? milliseconds(0) : remaining - waited;
        if (!finished) {
            stop_worker(false);
            stall = TpmStall{cc, waited, budget < limits.command};
            return false;
        }
        return true;
    }

    bool start_worker() {
        auto fresh = std::make_shared<Worker>();
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, kWorkerStack);
        auto* arg = new std::shared_ptr<Worker>(fresh);
        const int r = pthread_create(&thread, &attr, worker_main, arg);
        pthread_attr_destroy(&attr);
        if (r != 0) {
            delete arg;
            return false;
        }
        worker = std::move(fresh);
        return true;
    }

    // Asks the worker to end; waits for it when it is idle (`join`), else lets
    // it go (it is inside a TPM call that did not return).
    void stop_worker(bool join) {
        if (!worker) return;
        {
            std::lock_guard lock(worker->mutex);
            worker->quit = true;
        }
        worker->cv.notify_one();
        if (join) {
            pthread_join(thread, nullptr);
        } else {
            pthread_detach(thread);
        }
        worker.reset();
    }

    Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() { stop_worker(!stall.has_value()); }
};

namespace {
GuardedTcti::Impl* impl_of(TSS2_TCTI_CONTEXT* ctx) { return reinterpret_cast<GuardedTcti::Impl*>(ctx); }

TSS2_RC transmit(TSS2_TCTI_CONTEXT* ctx, size_t size, const uint8_t* command) {
    auto* s = impl_of(ctx);
    if (command == nullptr || size == 0) return TSS2_TCTI_RC_BAD_VALUE;
    if (s->stall) return TSS2_TCTI_RC_IO_ERROR;
    if (!s->pending.empty() || s->have_response) return TSS2_TCTI_RC_BAD_SEQUENCE;
    s->codes.push_back(command_code(command, size));
    s->pending.assign(command, command + size);
    return TSS2_RC_SUCCESS;
}

TSS2_RC receive(TSS2_TCTI_CONTEXT* ctx, size_t* size, uint8_t* response, int32_t /*timeout*/) {
    auto* s = impl_of(ctx);
    if (size == nullptr) return TSS2_TCTI_RC_BAD_REFERENCE;
    if (s->stall) return TSS2_TCTI_RC_IO_ERROR;
    if (!s->have_response) {
        if (s->pending.empty()) return TSS2_TCTI_RC_BAD_SEQUENCE;
        auto job = std::make_shared<Job>();
        job->in = std::move(s->pending);
        s->pending.clear();
        if (!s->run(job, command_code(job->in.data(), job->in.size()))) return TSS2_TCTI_RC_IO_ERROR;
        if (job->rc != TSS2_RC_SUCCESS) return job->rc;
        s->response = std::move(job->out);
        s->have_response = true;
    }
    // TCTI spec: a NULL buffer asks for the size; the response stays for the next call.
    if (response == nullptr) {
        *size = s->response.size();
        return TSS2_RC_SUCCESS;
    }
    if (*size < s->response.size()) {
        *size = s->response.size();
        return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
    }
    std::memcpy(response, s->response.data(), s->response.size());
    *size = s->response.size();
    wipe(s->response.data(), s->response.size());
    s->response.clear();
    s->have_response = false;
    return TSS2_RC_SUCCESS;
}

void finalize(TSS2_TCTI_CONTEXT*) {}  // GuardedTcti's destructor does it
TSS2_RC not_implemented_cancel(TSS2_TCTI_CONTEXT*) { return TSS2_TCTI_RC_NOT_IMPLEMENTED; }
TSS2_RC not_implemented_poll(TSS2_TCTI_CONTEXT*, TSS2_TCTI_POLL_HANDLE*, size_t*) { return TSS2_TCTI_RC_NOT_IMPLEMENTED; }
TSS2_RC not_implemented_locality(TSS2_TCTI_CONTEXT*, uint8_t) { return TSS2_TCTI_RC_NOT_IMPLEMENTED; }
TSS2_RC not_implemented_sticky(TSS2_TCTI_CONTEXT*, TPM2_HANDLE*, uint8_t) { return TSS2_TCTI_RC_NOT_IMPLEMENTED; }
}  // namespace

Result<std::unique_ptr<GuardedTcti>> GuardedTcti::open(const std::string& conf, TpmLimits limits) {
    auto impl = std::make_unique<Impl>();
    impl->limits = limits;
    impl->remaining = limits.total;
    auto& c = impl->common.v1;
    c.magic = kMagic;
    c.version = 2;
    c.transmit = transmit;
    c.receive = receive;
    c.finalize = finalize;
    c.cancel = not_implemented_cancel;
    c.getPollHandles = not_implemented_poll;
    c.setLocality = not_implemented_locality;
    impl->common.makeSticky = not_implemented_sticky;

    auto job = std::make_shared<Job>();
    job->kind = Job::Kind::Initialize;
    job->conf = conf;
    if (!impl->run(job, 0)) {
        return fail(ErrorCode::TimedOut, "cannot open the TPM through TCTI \"" + conf + "\": " +
                                             describe_stall(*impl->stall, limits));
    }
    if (job->rc != TSS2_RC_SUCCESS) {
        Error e = tss_error("cannot open the TPM through TCTI \"" + conf + "\"", job->rc);
        e.code = ErrorCode::Unavailable;
        return std::unexpected(e);
    }
    return std::unique_ptr<GuardedTcti>(new GuardedTcti(std::move(impl)));
}

GuardedTcti::GuardedTcti(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
GuardedTcti::~GuardedTcti() = default;  // the Channel finalizes the inner TCTI when its last owner lets go

TSS2_TCTI_CONTEXT* GuardedTcti::context() noexcept { return reinterpret_cast<TSS2_TCTI_CONTEXT*>(impl_.get()); }
const std::vector<std::uint32_t>& GuardedTcti::command_codes() const noexcept { return impl_->codes; }
const std::optional<TpmStall>& GuardedTcti::stall() const noexcept { return impl_->stall; }
const TpmLimits& GuardedTcti::limits() const noexcept { return impl_->limits; }

namespace {
std::string seconds(milliseconds ms) {
    const auto tenths = (ms.count() + 50) / 100;
    return tenths % 10 == 0 ? std::to_string(tenths / 10) + " s"
                            : std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}
}  // namespace

std::string describe_stall(const TpmStall& stall, const TpmLimits& limits) {
    std::string s = stall.command_code == 0
                        ? "the vTPM did not answer within " + seconds(stall.waited) + " while its TCTI was opened"
                        : "the vTPM did not answer TPM2_" + command_name(stall.command_code) + " within " +
                              seconds(stall.waited);
    s += stall.budget_exhausted ? " (the overall TPM time limit of " + seconds(limits.total) + " ran out)"
                                : " (TPM command timeout " + seconds(limits.command) + ")";
    return s;
}

std::optional<std::string> stall_message(TSS2_TCTI_CONTEXT* tcti) {
    if (tcti == nullptr || TSS2_TCTI_MAGIC(tcti) != kMagic) return std::nullopt;
    const auto* s = impl_of(tcti);
    if (!s->stall) return std::nullopt;
    return describe_stall(*s->stall, s->limits);
}

}  // namespace cvmunlock::tpm
