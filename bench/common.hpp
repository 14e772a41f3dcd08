// bench/common.hpp — the measuring kit every benchmark family shares.
//
// What lives here and why:
//  - pinning: the producer (the Google Benchmark thread) runs on CPU 0 and the
//    consumer on CPU 1, always; on a 2-vCPU machine anything else lets the two
//    spinning sides starve each other.
//  - message<Bytes>: the payload, stamped with its sequence number in its first
//    and last word; the consumer checks both and aborts on a mismatch, so no
//    message can be optimised away, lost, duplicated or torn unnoticed.
//  - tsc: rdtsc timestamps calibrated once against steady_clock; a
//    clock_gettime costs about as much as a third of a round trip here.
//    (Other architectures fall back to steady_clock: the suite builds there
//    but is only tuned for x86-64.)
//  - histogram: log-linear, fixed size, no allocation while recording.
//  - worker: a thread pinned to the consumer CPU that runs one job at a time,
//    created per benchmark call so no spinning thread outlives a measurement.
//  - ping-pong: one cache line bounced between the two CPUs. It is both a
//    limit (the best round trip any channel can have) and the placement probe
//    run before and after every repetition: the hypervisor moves the two vCPUs
//    between a "near" and a "far" placement, and results are only comparable
//    within one placement.
#pragma once

#include <pthread.h>
#include <sched.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <type_traits>

#include <benchmark/benchmark.h>

namespace que_bench {

inline constexpr int producer_cpu = 0;
inline constexpr int consumer_cpu = 1;

// 128, not 64: the adjacent-line prefetcher pairs lines, so two hot words 64
// bytes apart still ping-pong together.
inline constexpr std::size_t line_bytes = 128;

// Pins the calling thread; returns false when the CPU is not available (the
// caller then reports an error rather than measuring something unpinned).
inline bool pin_this_thread(int cpu) noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<std::size_t>(cpu), &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

inline void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#else
    asm volatile("" ::: "memory");
#endif
}

// Waits without burning the other side's CPU when the other side needs it:
// spins briefly (the common, fast case), then yields. Used where a third
// thread may have to run on our CPU (ZeroMQ's I/O threads, the kernel's wakeup
// work for pipes and sockets).
template <class Pred>
void spin_then_yield(Pred done) noexcept {
    for (int i = 0; !done(); ++i) {
        if (i < 4096) relax();
        else sched_yield();
    }
}

// ---------------------------------------------------------------- messages

template <std::size_t Bytes>
struct message {
    static_assert(Bytes >= 8 && Bytes % 8 == 0, "payload is whole 64-bit words");
    static constexpr std::size_t words_count = Bytes / 8;
    std::uint64_t words[words_count];
};

// A recognisable filler for the words between the two sequence stamps, so a
// message is a real payload the copies must move, not zero pages.
template <class M>
void fill(M& m) noexcept {
    for (std::size_t i = 0; i < M::words_count; ++i) m.words[i] = 0x5155450000000000ull + i;
}

template <class M>
inline void stamp(M& m, std::uint64_t seq) noexcept {
    m.words[0] = seq;
    m.words[M::words_count - 1] = seq;
}

// The producer's messages, stamped a few messages ahead of sending. Stamping
// a message (two 8-byte stores) right before the queue copies it with wider
// loads defeats store-to-load forwarding: ~10 ns a message at 64 bytes here,
// more than the copy itself, and a cost of this harness rather than of any
// queue. So message s is stamped `depth` messages before it is sent, when its
// buffer is handed back (next). 8-byte messages forward fine and use one
// buffer. The copy-in producers and limit_memcpy all draw from this, so the
// limit does exactly the producers' work minus the queue.
template <class M>
class message_source {
public:
    static constexpr std::size_t depth = sizeof(M) == 8 ? 1 : std::clamp<std::size_t>(16384 / sizeof(M), 2, 8);

    explicit message_source(std::uint64_t first) noexcept {
        for (std::uint64_t s = first; s != first + depth; ++s) {
            fill(buf_[s % depth]);
            stamp(buf_[s % depth], s);
        }
    }
    // Message s; sequence numbers are taken in order, each once.
    const M& operator[](std::uint64_t s) const noexcept { return buf_[s % depth]; }
    // Message s has been copied out: its buffer becomes message s + depth.
    void next(std::uint64_t s) noexcept { stamp(buf_[s % depth], s + depth); }

private:
    M buf_[depth];
};

[[noreturn]] inline void sequence_failure(const char* where, std::uint64_t expected, std::uint64_t first,
                                          std::uint64_t last) noexcept {
    std::fprintf(stderr,
                 "que_bench: %s: message check failed: expected sequence %llu, got first word %llu, "
                 "last word %llu\n",
                 where, static_cast<unsigned long long>(expected), static_cast<unsigned long long>(first),
                 static_cast<unsigned long long>(last));
    std::abort();
}

// The consumer-side check: in order, nothing lost, nothing torn (first and
// last word of the same copy agree).
template <class M>
inline void check(const M& m, std::uint64_t expected, const char* where) noexcept {
    const std::uint64_t first = m.words[0];
    const std::uint64_t last = m.words[M::words_count - 1];
    if (first != expected || last != expected) [[unlikely]]
        sequence_failure(where, expected, first, last);
}

// que's blocking push returns a status in some versions of the API and
// nothing in others; either way a push that did not deliver must stop the
// run, not be counted.
template <class Tx, class M>
inline void push_or_abort(Tx& tx, const M& m, const char* where) noexcept {
    if constexpr (std::is_void_v<decltype(tx.push(m))>) {
        tx.push(m);
    } else if (tx.push(m) != decltype(tx.push(m)){}) [[unlikely]] {
        std::fprintf(stderr, "que_bench: %s: push did not deliver (channel closed or peer dead)\n", where);
        std::abort();
    }
}

// How many messages a batch API moves at a time: up to 64, and no more than
// ~16 KiB so the staging buffer stays in L1/L2 like a real producer's would.
constexpr std::size_t batch_for(std::size_t bytes) noexcept {
    return std::clamp<std::size_t>(16384 / bytes, 1, 64);
}

// Slots for a ring holding `ring_bytes` of payload: a power of two, at least 2.
constexpr std::size_t slots_for(std::size_t bytes, std::size_t ring_bytes) noexcept {
    return std::bit_floor(std::max<std::size_t>(ring_bytes / bytes, 2));
}

inline std::string size_label(std::size_t bytes) {
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
    if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + "KiB";
    return std::to_string(bytes) + "B";
}

// ---------------------------------------------------------------- time

class tsc {
public:
    static std::uint64_t start() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        _mm_lfence();  // earlier loads (the previous trip's wait) are done first
        return __rdtsc();
#else
        return now_fallback();
#endif
    }
    static std::uint64_t stop() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        unsigned aux;
        return __rdtscp(&aux);  // waits for the timed work to complete
#else
        return now_fallback();
#endif
    }
    static double ns_per_tick() noexcept { return ns_per_tick_; }

    // Measures the TSC against steady_clock over ~50 ms. Called once by main()
    // before any benchmark runs.
    static void calibrate() noexcept {
        using clock = std::chrono::steady_clock;
        const auto t0 = clock::now();
        const std::uint64_t c0 = start();
        while (clock::now() - t0 < std::chrono::milliseconds(50)) relax();
        const auto t1 = clock::now();
        const std::uint64_t c1 = stop();
        ns_per_tick_ = std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(c1 - c0);
    }

private:
    // Elsewhere than x86 (where these benchmarks are not tuned): steady_clock
    // in nanoseconds, so the histogram code stays the same.
    static std::uint64_t now_fallback() noexcept {
        return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::steady_clock::now().time_since_epoch())
                                              .count());
    }

    static inline double ns_per_tick_ = 1.0;
};

// Log-linear histogram of tick counts: exact below 128 ticks, then 128
// sub-buckets per power of two (<1% relative error), up to 2^40 ticks.
// 17 KiB, and a run touches only the few buckets round trips fall into.
class histogram {
public:
    void add(std::uint64_t ticks) noexcept {
        ++counts_[index(ticks)];
        ++total_;
    }
    std::uint64_t total() const noexcept { return total_; }

    // The value (in ticks) at quantile q in [0, 1]: the midpoint of the bucket
    // holding the ceil(q * total)-th smallest sample.
    double quantile_ticks(double q) const noexcept {
        if (total_ == 0) return 0;
        const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(q * static_cast<double>(total_) + 0.999999));
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank) return midpoint(i);
        }
        return midpoint(counts_.size() - 1);
    }
    double quantile_ns(double q) const noexcept { return quantile_ticks(q) * tsc::ns_per_tick(); }

private:
    static constexpr unsigned sub_bits = 7;
    static constexpr std::uint64_t sub = 1u << sub_bits;
    static constexpr unsigned max_exp = 40;
    static constexpr std::size_t buckets = sub + (max_exp - sub_bits) * sub;

    static std::size_t index(std::uint64_t v) noexcept {
        if (v < sub) return static_cast<std::size_t>(v);
        const unsigned e = std::min<unsigned>(static_cast<unsigned>(std::bit_width(v)) - 1, max_exp - 1);
        const std::uint64_t top = std::min<std::uint64_t>(v >> (e - sub_bits), 2 * sub - 1);
        return static_cast<std::size_t>(sub + (e - sub_bits) * sub + (top - sub));
    }
    static double midpoint(std::size_t i) noexcept {
        if (i < sub) return static_cast<double>(i);
        const std::size_t e = (i - sub) / sub + sub_bits;
        const std::uint64_t top = sub + (i - sub) % sub;
        const double width = static_cast<double>(std::uint64_t{1} << (e - sub_bits));
        return static_cast<double>(top << (e - sub_bits)) + width / 2;
    }

    std::array<std::uint32_t, buckets> counts_{};
    std::uint64_t total_ = 0;
};

// Round-trip counters every latency benchmark reports (nanoseconds).
inline void report_round_trips(benchmark::State& state, const histogram& h) {
    state.counters["median_ns"] = h.quantile_ns(0.5);
    state.counters["p99_ns"] = h.quantile_ns(0.99);
    state.counters["p999_ns"] = h.quantile_ns(0.999);
    state.counters["round_trips"] = static_cast<double>(h.total());
}

// ---------------------------------------------------------------- worker

// A thread pinned to the consumer CPU that runs one job at a time. The
// handshake is two atomics spun on, so starting a job costs a cache-line
// transfer, not a futex wake-up.
class worker {
public:
    explicit worker(int cpu = consumer_cpu) : thread_([this, cpu] { loop(cpu); }) {
        while (state_.load(std::memory_order_acquire) == starting) relax();
    }
    ~worker() {
        state_.store(quitting, std::memory_order_release);
        thread_.join();
    }
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    bool pinned() const noexcept { return pinned_; }

    // Starts `job` on the worker; returns at once. One job at a time.
    void run(std::function<void()> job) {
        job_ = std::move(job);
        state_.store(has_job, std::memory_order_release);
    }
    // Spins until the job started by run() has returned.
    void wait() noexcept {
        while (state_.load(std::memory_order_acquire) != job_done) relax();
        state_.store(idle, std::memory_order_relaxed);
    }

private:
    enum : int { starting, idle, has_job, job_done, quitting };

    void loop(int cpu) {
        pinned_ = pin_this_thread(cpu);
        state_.store(idle, std::memory_order_release);
        for (;;) {
            const int s = state_.load(std::memory_order_acquire);
            if (s == has_job) {
                job_();
                state_.store(job_done, std::memory_order_release);
            } else if (s == quitting) {
                return;
            } else {
                relax();
            }
        }
    }

    alignas(line_bytes) std::atomic<int> state_{starting};
    alignas(line_bytes) std::function<void()> job_;
    bool pinned_ = false;
    std::thread thread_;
};

// ---------------------------------------------------------------- ping-pong

// One cache line (plus its prefetch pair) holding a counter that the two
// sides advance in turn: the initiator writes odd values, the responder even.
struct alignas(line_bytes) pingpong_line {
    std::atomic<std::uint64_t> value{0};
    char pad[line_bytes - sizeof(std::atomic<std::uint64_t>)];
};

// The initiator's side of `rounds` round trips starting from `base` (the
// line's current even value); records each trip in `h` when given.
inline std::uint64_t pingpong_initiate(pingpong_line& line, std::uint64_t base, std::uint64_t rounds,
                                       histogram* h) noexcept {
    std::uint64_t v = base;
    for (std::uint64_t i = 0; i < rounds; ++i) {
        const std::uint64_t t0 = tsc::start();
        line.value.store(v + 1, std::memory_order_release);
        while (line.value.load(std::memory_order_acquire) != v + 2) relax();
        const std::uint64_t t1 = tsc::stop();
        if (h) h->add(t1 - t0);
        v += 2;
    }
    return v;
}

inline std::uint64_t pingpong_respond(pingpong_line& line, std::uint64_t base, std::uint64_t rounds) noexcept {
    std::uint64_t v = base;
    for (std::uint64_t i = 0; i < rounds; ++i) {
        while (line.value.load(std::memory_order_acquire) != v + 1) relax();
        line.value.store(v + 2, std::memory_order_release);
        v += 2;
    }
    return v;
}

// Median round trip of one cache line between this thread and `w`'s CPU:
// the placement probe (2000 trips, ~0.5 ms).
inline double probe_placement_ns(worker& w) {
    static pingpong_line line;  // only ever used by one benchmark at a time
    constexpr std::uint64_t rounds = 2000;
    const std::uint64_t base = line.value.load(std::memory_order_relaxed);
    histogram h;
    w.run([base] { pingpong_respond(line, base, rounds); });
    pingpong_initiate(line, base, rounds, &h);
    w.wait();
    return h.quantile_ns(0.5);
}

// The two placement counters every benchmark carries; plot_bench.py tags a
// repetition "near" when both are under its threshold.
inline void report_placement(benchmark::State& state, double before_ns, double after_ns) {
    state.counters["probe_before_ns"] = before_ns;
    state.counters["probe_after_ns"] = after_ns;
}

// ---------------------------------------------------------------- bursts

// Messages per timed iteration: enough for ~5 ms at the rate the untimed
// warm-up achieved, so fast channels are not dominated by the per-iteration
// handshake and slow ones (kernel paths, the mutex) still fit many iterations
// in the minimum time.
inline std::uint64_t burst_for_rate(std::uint64_t warm_messages, double warm_seconds) noexcept {
    const double rate = static_cast<double>(warm_messages) / std::max(warm_seconds, 1e-6);
    const auto n = static_cast<std::uint64_t>(rate * 0.005);
    return std::clamp<std::uint64_t>(n, 1024, std::uint64_t{1} << 24);
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) noexcept {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU time of the whole process (all threads), seconds.
inline double process_cpu_seconds() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// How much of the two CPUs the measured loop actually got: both sides spin,
// so an undisturbed repetition scores ~1.0; a side descheduled in favour of
// another process (a compiler, say) lowers it. Reported as the counter
// "cpu_share" so a noisy repetition can be told apart from a slow one.
class cpu_share_meter {
public:
    explicit cpu_share_meter(double (*other_cpu)() = nullptr) noexcept : other_(other_cpu) { restart(); }
    void restart() noexcept {
        wall0_ = std::chrono::steady_clock::now();
        cpu0_ = cpu();
    }
    double share() const noexcept {
        const double wall = seconds_since(wall0_);
        return wall > 0 ? (cpu() - cpu0_) / (2 * wall) : 0;
    }

private:
    double cpu() const noexcept { return process_cpu_seconds() + (other_ ? other_() : 0); }
    double (*other_)();
    std::chrono::steady_clock::time_point wall0_;
    double cpu0_ = 0;
};

}  // namespace que_bench
