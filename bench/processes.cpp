// bench/processes.cpp — que over shared memory against the kernel's IPC
// mechanisms, between two processes made with fork(): the parent (Google
// Benchmark's thread, CPU 0) produces or initiates; the child (pinned to
// CPU 1) consumes and checks, or echoes.
//
// Parent and child coordinate through a small control block in a shared
// anonymous mapping made before fork: commands (consume n messages from
// sequence s, echo n round trips, answer a placement probe, quit) and their
// completion, plus the ping-pong line of the probe. The data itself only ever
// travels through the transport being measured.
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "harness.hpp"
#include "process_channels.hpp"
#include "registry.hpp"
#include "thread_channels.hpp"

namespace que_bench {
namespace {

constexpr std::size_t KiB = 1024;
// Every process comparison uses rings of 64 KiB of payload: the default pipe
// size, so the kernel paths are bounded like the rings.
constexpr std::size_t ring_bytes = 64 * KiB;

enum class op : int { none, consume, echo, probe, quit };

struct control {
    alignas(line_bytes) std::atomic<std::uint64_t> posted{0};  // parent: number of commands posted
    alignas(line_bytes) std::atomic<std::uint64_t> done{0};    // child: number of commands finished
    alignas(line_bytes) pingpong_line line;
    alignas(line_bytes) op command = op::none;  // written before `posted` is bumped
    std::uint64_t first = 0, count = 0;
    std::atomic<int> child_state{0};  // 0 starting, 1 ready, 2 failed
    std::atomic<std::uint64_t> child_cpu_ns{0};  // the child's CPU time when it last finished a command
    char error[256] = {};
};

// The child must not outlive a parent that crashed (PR_SET_PDEATHSIG), and
// the parent must not wait forever on a child that aborted (a failed message
// check aborts): a SIGCHLD that arrives while the child is expected alive ends
// the run loudly.
std::atomic<bool> child_may_exit{true};
std::atomic<control*> current_control{nullptr};

void on_sigchld(int) {
    if (child_may_exit.load()) return;
    const control* c = current_control.load();
    if (c && c->child_state.load() == 2) return;  // failed to open: reported as a skip
    constexpr char msg[] = "que_bench: the child process died during a measurement (see its message above)\n";
    [[maybe_unused]] ssize_t w = ::write(2, msg, sizeof msg - 1);
    ::_exit(3);
}

double child_cpu_seconds() noexcept {
    const control* c = current_control.load();
    return c ? static_cast<double>(c->child_cpu_ns.load(std::memory_order_relaxed)) * 1e-9 : 0;
}

class child_process {
public:
    // Maps the control block; fork happens in start().
    child_process() {
        void* p = ::mmap(nullptr, sizeof(control), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::system_error(errno, std::system_category(), "mmap");
        ctl_ = new (p) control;
        current_control = ctl_;
    }
    ~child_process() {
        child_may_exit = true;  // before the child can exit: its SIGCHLD is expected from here on
        if (serving_) post(op::quit, 0, 0);
        else if (pid_ > 0) ::kill(pid_, SIGKILL);
        if (pid_ > 0) {
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
        current_control = nullptr;
        ctl_->~control();
        ::munmap(ctl_, sizeof(control));
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    // Forks; the child pins itself, opens its side of `t`, then serves
    // commands until told to quit. Returns an error text, empty on success.
    template <class T>
    std::string start(T& t) {
        struct sigaction sa {};
        sa.sa_handler = on_sigchld;
        sa.sa_flags = SA_RESTART;
        ::sigaction(SIGCHLD, &sa, nullptr);
        ::signal(SIGPIPE, SIG_IGN);  // a dead reader is reported by write's error, not a signal
        std::fflush(nullptr);        // nothing buffered may be printed twice

        child_may_exit = false;
        pid_ = ::fork();
        if (pid_ < 0) {
            child_may_exit = true;
            return std::string("fork: ") + std::strerror(errno);
        }
        if (pid_ == 0) serve(t);  // never returns

        try {
            t.enter(role::parent);
        } catch (const std::exception& e) {
            child_may_exit = true;
            return std::string(T::name) + " (parent): " + e.what();
        }
        ctl_->posted.store(1, std::memory_order_release);  // the child may open its side now
        spin_then_yield([&] { return ctl_->child_state.load(std::memory_order_acquire) != 0; });
        if (ctl_->child_state.load() == 2) return ctl_->error;
        serving_ = true;
        return {};
    }

    void post(op o, std::uint64_t first, std::uint64_t count) noexcept {
        await();
        ctl_->command = o;
        ctl_->first = first;
        ctl_->count = count;
        ctl_->posted.fetch_add(1, std::memory_order_release);
    }
    // Waits until the child has finished every posted command.
    void await() noexcept {
        const std::uint64_t target = ctl_->posted.load(std::memory_order_relaxed);
        spin_then_yield([&] { return ctl_->done.load(std::memory_order_acquire) == target; });
    }

    double probe_ns() noexcept {
        constexpr std::uint64_t rounds = 2000;
        const std::uint64_t base = ctl_->line.value.load(std::memory_order_relaxed);
        histogram h;
        post(op::probe, base, rounds);
        pingpong_initiate(ctl_->line, base, rounds, &h);
        await();
        return h.quantile_ns(0.5);
    }

private:
    template <class T>
    [[noreturn]] void serve(T& t) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::signal(SIGCHLD, SIG_DFL);
        const bool pinned = pin_this_thread(consumer_cpu);
        // Wait for the parent to open its side first (ZeroMQ binds there).
        spin_then_yield([&] { return ctl_->posted.load(std::memory_order_acquire) != 0; });
        try {
            if (!pinned) throw std::runtime_error("cannot pin the child to CPU 1");
            t.enter(role::child);
        } catch (const std::exception& e) {
            std::snprintf(ctl_->error, sizeof ctl_->error, "%s (child): %s", T::name, e.what());
            ctl_->child_state.store(2, std::memory_order_release);
            ::_exit(1);
        }
        ctl_->done.store(1, std::memory_order_relaxed);  // the "open" command
        ctl_->child_state.store(1, std::memory_order_release);

        using M = typename T::message_type;
        std::uint64_t seen = 1;
        for (;;) {
            spin_then_yield([&] { return ctl_->posted.load(std::memory_order_acquire) != seen; });
            ++seen;
            const std::uint64_t first = ctl_->first, count = ctl_->count;
            switch (ctl_->command) {
            case op::consume: {
                M m;
                for (std::uint64_t s = first; s != first + count; ++s) {
                    t.recv(m);
                    check(m, s, T::name);
                }
                break;
            }
            case op::echo: {
                M m;
                for (std::uint64_t s = 1; s <= count; ++s) {
                    t.recv(m);
                    check(m, s, T::name);
                    t.send(m);
                }
                break;
            }
            case op::probe: pingpong_respond(ctl_->line, first, count); break;
            case op::quit:
                ctl_->done.store(seen, std::memory_order_release);
                ::_exit(0);  // no atexit handlers, no flushing the parent's buffers again
            case op::none: break;
            }
            ctl_->child_cpu_ns.store(static_cast<std::uint64_t>(process_cpu_seconds() * 1e9), std::memory_order_relaxed);
            ctl_->done.store(seen, std::memory_order_release);
        }
    }

    control* ctl_ = nullptr;
    pid_t pid_ = -1;
    bool serving_ = false;
};

template <class T>
std::unique_ptr<child_process> start_or_skip(benchmark::State& state, T& t) {
    auto child = std::make_unique<child_process>();
    const std::string error = child->start(t);
    if (!error.empty()) {
        state.SkipWithError(error.c_str());
        return nullptr;  // the destructor reaps the child
    }
    return child;
}

// Throughput between processes: as threads_throughput, with the consumer in
// the child. The parent's wait for the end of a burst yields after a short
// spin so a ZeroMQ I/O thread sharing its CPU can finish the sends.
template <class T>
void processes_throughput(benchmark::State& state) {
    auto t = make_or_skip<T>(state);
    if (!t) return;
    auto child = start_or_skip(state, *t);
    if (!child) return;

    std::uint64_t next = 1;
    message_source<typename T::message_type> src(next);
    auto transfer = [&](std::uint64_t n) {
        child->post(op::consume, next, n);
        for (std::uint64_t s = next; s != next + n; ++s) {
            t->send(src[s]);
            src.next(s);
        }
        child->await();
        next += n;
    };

    const std::uint64_t warm = 4096;
    const auto t0 = std::chrono::steady_clock::now();
    transfer(warm);
    const std::uint64_t burst = burst_for_rate(warm, seconds_since(t0));

    const double before = child->probe_ns();
    cpu_share_meter cpu(child_cpu_seconds);
    for (auto _ : state) transfer(burst);
    const double share = cpu.share();
    const double after = child->probe_ns();

    const auto messages = static_cast<std::int64_t>(burst) * state.iterations();
    state.SetItemsProcessed(messages);
    state.SetBytesProcessed(messages * static_cast<std::int64_t>(sizeof(typename T::message_type)));
    state.counters["burst"] = static_cast<double>(burst);
    state.counters["cpu_share"] = share;
    report_placement(state, before, after);
}

template <class T>
void processes_round_trip(benchmark::State& state) {
    auto t = make_or_skip<T>(state);
    if (!t) return;
    auto child = start_or_skip(state, *t);
    if (!child) return;

    using M = typename T::message_type;
    constexpr std::uint64_t warm = 2000;
    const double before = child->probe_ns();
    child->post(op::echo, 0, warm + static_cast<std::uint64_t>(state.max_iterations));

    // The messages come from a message_source (stamped ahead), and the
    // re-stamp happens outside the timed span.
    M echo;
    message_source<M> src(1);
    std::uint64_t s = 1;
    for (; s <= warm; ++s) {
        t->send(src[s]);
        src.next(s);
        t->recv(echo);
        check(echo, s, T::name);
    }
    histogram h;
    cpu_share_meter cpu(child_cpu_seconds);
    for (auto _ : state) {
        const std::uint64_t t0 = tsc::start();
        t->send(src[s]);
        t->recv(echo);
        const std::uint64_t t1 = tsc::stop();
        check(echo, s, T::name);
        h.add(t1 - t0);
        src.next(s++);
    }
    child->await();
    const double share = cpu.share();
    const double after = child->probe_ns();
    report_round_trips(state, h);
    state.counters["cpu_share"] = share;
    report_placement(state, before, after);
}

template <template <class, std::size_t> class T, std::size_t Bytes>
void add_process_pair(bool round_trip) {
    using C = T<message<Bytes>, slots_for(Bytes, ring_bytes)>;
    add("proc_tp/" + std::string(C::name) + "/" + payload_label(Bytes) + "/" + size_label(ring_bytes),
        processes_throughput<C>)
        ->Unit(benchmark::kMillisecond);
    if (round_trip)
        add("proc_rtt/" + std::string(C::name) + "/" + payload_label(Bytes), processes_round_trip<C>)
            ->Unit(benchmark::kMicrosecond);
}

// Two-parameter names for every transport: a class template with a defaulted
// third parameter does not match a template template parameter of two under
// clang without -frelaxed-template-template-args.
#if QUE_BENCH_HAVE_QUE_SHM
template <class M, std::size_t N>
using que_shm_standard = que_shm<M, N, false>;
template <class M, std::size_t N>
using que_shm_huge = que_shm<M, N, true>;
#endif
template <class M, std::size_t N>
using unix_stream = unix_socket<M, N, SOCK_STREAM>;
template <class M, std::size_t N>
using unix_seqpacket = unix_socket<M, N, SOCK_SEQPACKET>;

template <std::size_t Bytes>
void process_payload(bool round_trip) {
#if QUE_BENCH_HAVE_QUE_SPSC
    // que between two threads at the same ring size, registered in this
    // family so "shm vs threads" is a ratio within one run.
    {
        using C = que_push<message<Bytes>, slots_for(Bytes, ring_bytes)>;
        add("proc_tp/que_threads/" + payload_label(Bytes) + "/" + size_label(ring_bytes), threads_throughput<C>)
            ->Unit(benchmark::kMillisecond);
        if (round_trip)
            add("proc_rtt/que_threads/" + payload_label(Bytes), threads_round_trip<C>)->Unit(benchmark::kMicrosecond);
    }
#endif
#if QUE_BENCH_HAVE_QUE_SHM
    add_process_pair<que_shm_standard, Bytes>(round_trip);
    add_process_pair<que_shm_huge, Bytes>(round_trip);
#endif
    add_process_pair<pipe_transport, Bytes>(round_trip);
    add_process_pair<unix_stream, Bytes>(round_trip);
    add_process_pair<unix_seqpacket, Bytes>(round_trip);
#if QUE_BENCH_HAVE_BOOST_INTERPROCESS
    add_process_pair<boost_mq, Bytes>(round_trip);
#endif
#if QUE_BENCH_HAVE_ZMQ
    add_process_pair<zmq_ipc, Bytes>(round_trip);
#endif
}

}  // namespace

void register_processes() {
    process_payload<8>(true);
    process_payload<64>(false);
    process_payload<256>(false);
    process_payload<1264>(true);
    process_payload<4096>(false);
}

}  // namespace que_bench
