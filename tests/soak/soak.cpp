// tests/soak/soak.cpp — a long run of the lossless channel between two
// processes, with the producer and the consumer killed (SIGKILL) at random
// points and restarted, checking every message.
//
// Processes: this process creates the channel in /dev/shm, then forks a
// consumer and a producer, and later their replacements; it holds no role
// and reads the shared indices through a mapping of its own. Each producer
// joins with open mode `open` and writes message i at ring index i, so it
// continues from the published write index: after reaping a killed producer
// the parent hands that index to the next one as its first sequence number.
// Messages a producer copied into slots but had not published when it died
// are not committed; the next producer writes those indices again.
//
// Each consumer checks every message it takes (sequence == expected: a gap
// is a lost message, a smaller one a duplicate or reordering; check ==
// mix(sequence): a torn one) and records in memory shared with the parent
// how far it got (`delivered`) and, around each call that may hand slots
// back, how many messages that call may take (`in_call`) or how many peeked
// messages it has checked but not yet released (`peeked`). After reaping a
// killed consumer, the parent reads the released read index R and checks
// spsc.hpp's contract for a consumer that dies:
//  - repeats: the next consumer starts at R, so it receives again [R,
//    delivered): at most min(64, N/4) - 1 messages the dead one took with
//    single pops and had not handed back, plus the peeked ones it had checked
//    but not released. The restarted consumer checks it receives exactly R,
//    R+1, ...: the repeat is contiguous and ends where the dead one stopped.
//  - nothing lost: R <= delivered, except by at most the count of the pop
//    call the kill interrupted (it may have handed back the messages it was
//    returning; they died with the process). Peeked messages are checked
//    before release(), so that path never loses one.
//
// Kill points: after a random number of consumed messages, after a random
// delay (so the kill may land during open, mid-batch, between memcpy and the
// index store), or at once after fork; each kill picks the producer or the
// consumer at random.
//
// Size: QUE_SOAK_MESSAGES (default 10^8, divided by QUE_TEST_SCALE_DIVISOR),
// QUE_SOAK_KILLS (default: one per ~50k messages, at least 20),
// QUE_SOAK_SEED (default: from the clock; printed, so a failure can be
// replayed with the same kill schedule).
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <system_error>

#include <que/spsc.hpp>

#ifndef QUE_TEST_SCALE_DIVISOR
#define QUE_TEST_SCALE_DIVISOR 1
#endif

namespace {

struct message {
    std::uint64_t seq;
    std::uint64_t check;  // mix(seq): a message torn between two writes fails it
};

constexpr std::size_t ring = 4096;
using producer = que::spsc::producer<message, ring>;
using consumer = que::spsc::consumer<message, ring>;

constexpr std::uint64_t mix(std::uint64_t x) noexcept {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

struct xorshift {
    std::uint64_t s;
    std::uint64_t next() noexcept {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    std::uint64_t below(std::uint64_t n) noexcept { return n == 0 ? 0 : next() % n; }
};

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return fallback;
    return std::strtoull(v, nullptr, 0);
}

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "soak: %s\n", what);
    std::fflush(stderr);
    std::_Exit(2);
}

// The producer process: writes messages [first, total) with a mix of the
// publication paths (single, batch, claim/commit), then exits. Never returns.
[[noreturn]] void run_producer(const std::string& name, std::uint64_t first, std::uint64_t total,
                               std::uint64_t seed) {
    std::error_code ec;
    producer tx = producer::open(que::shm{name, {.mode = que::open_mode::open}}, ec);
    if (ec) {
        std::fprintf(stderr, "soak producer: open failed: %s\n", ec.message().c_str());
        std::_Exit(3);
    }
    xorshift rng{seed | 1};
    message batch[256];
    std::uint64_t seq = first;
    unsigned idle = 0;
    while (seq < total) {
        const std::uint64_t r = rng.next();
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(1 + (r >> 8) % 256, total - seq));
        std::size_t done = 0;
        switch (r % 8) {
        case 0:  // one at a time
            done = tx.try_push(message{seq, mix(seq)}) ? 1 : 0;
            break;
        case 1:
        case 2: {  // write in place, publish a prefix
            std::span<message> w = tx.claim(want);
            for (std::size_t i = 0; i < w.size(); ++i) w[i] = message{seq + i, mix(seq + i)};
            done = w.empty() ? 0 : 1 + static_cast<std::size_t>((r >> 20) % w.size());
            tx.commit(done);
            break;
        }
        default: {  // batch copy
            for (std::size_t i = 0; i < want; ++i) batch[i] = message{seq + i, mix(seq + i)};
            done = tx.try_push(std::span<const message>(batch, want));
            break;
        }
        }
        seq += done;
        if (done == 0 && ++idle % 64 == 0) ::sched_yield();  // full: let the consumer run if we share a CPU
    }
    // Exit without the destructor's close(): the parent counts messages, and
    // the run also covers a producer that leaves without saying goodbye.
    std::_Exit(0);
}

// What a consumer process records for the parent (shared memory). Written
// by the consumer only; read by the parent after reaping it.
struct progress {
    std::atomic<std::uint64_t> delivered{0};  // next sequence number the consumer expects
    std::atomic<std::uint64_t> in_call{0};    // messages the pop call under way may take and release
    std::atomic<std::uint64_t> peeked{0};     // peeked messages checked and not yet released
    std::atomic<std::uint32_t> failed{0};
    std::atomic<std::uint64_t> bad_seq{0}, bad_check{0}, bad_want{0};
};

// The consumer process: takes messages [first, total) with every path
// (single and batch pops, blocking pops, peek/release), checks each, exits 0
// once it has them all. Never returns.
[[noreturn]] void run_consumer(const std::string& name, std::uint64_t first, std::uint64_t total,
                               std::uint64_t seed, progress& pr) {
    std::error_code ec;
    consumer rx = consumer::open(que::shm{name, {.mode = que::open_mode::open}}, ec);
    if (ec) {
        std::fprintf(stderr, "soak consumer: open failed: %s\n", ec.message().c_str());
        std::_Exit(3);
    }
    xorshift rng{seed | 1};
    message buf[512];
    std::uint64_t expected = first;
    pr.delivered.store(expected, std::memory_order_relaxed);
    auto feed = [&](const message& m) {
        if (m.seq != expected || m.check != mix(m.seq)) {
            pr.bad_seq.store(m.seq);
            pr.bad_check.store(m.check);
            pr.bad_want.store(expected);
            pr.failed.store(1);
            std::_Exit(4);
        }
        ++expected;
        pr.delivered.store(expected, std::memory_order_relaxed);
    };
    unsigned idle = 0;
    while (expected < total) {
        std::size_t n = 0;
        const std::uint64_t r = rng.next();
        switch (r % 16) {
        case 0: {  // read in place: check, then release (never loses one)
            std::span<const message> view = rx.peek();
            n = std::min<std::size_t>(view.size(), 1 + (r >> 8) % 512);
            pr.peeked.store(n, std::memory_order_relaxed);
            for (std::size_t i = 0; i < n; ++i) feed(view[i]);
            rx.release(n);
            pr.peeked.store(0, std::memory_order_relaxed);
            break;
        }
        case 1: {  // blocking pop (the producer may be dead: bounded)
            pr.in_call.store(1, std::memory_order_relaxed);
            if (rx.pop_for(buf[0], std::chrono::milliseconds(2)) == que::status::ok) {
                feed(buf[0]);
                n = 1;
            }
            pr.in_call.store(0, std::memory_order_relaxed);
            break;
        }
        case 2:
        case 3:
        case 4: {  // batch copy
            const std::size_t want = 1 + static_cast<std::size_t>((r >> 8) % 512);
            pr.in_call.store(want, std::memory_order_relaxed);
            n = rx.try_pop(std::span<message>(buf, want));
            for (std::size_t i = 0; i < n; ++i) feed(buf[i]);
            pr.in_call.store(0, std::memory_order_relaxed);
            break;
        }
        default:  // single pops: the batched release
            pr.in_call.store(1, std::memory_order_relaxed);
            if (rx.try_pop(buf[0])) {
                feed(buf[0]);
                n = 1;
            }
            pr.in_call.store(0, std::memory_order_relaxed);
        }
        if (n == 0 && ++idle % 64 == 0) ::sched_yield();
    }
    std::_Exit(0);  // no close(): the parent counts on the read index as the consumer left it
}

template <class Body>
pid_t spawn(Body&& body) {
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) body();
    return pid;
}

// The parent's view of the shared blocks (a mapping of its own).
struct segment_view {
    void* base = nullptr;
    explicit segment_view(const std::string& name) {
        const int fd = ::shm_open(("/" + name).c_str(), O_RDONLY, 0);
        if (fd < 0) die("shm_open of the soak segment failed");
        base = ::mmap(nullptr, que::detail::slots_offset, PROT_READ, MAP_SHARED, fd, 0);
        ::close(fd);
        if (base == MAP_FAILED) die("mmap of the soak segment failed");
    }
    ~segment_view() { ::munmap(base, que::detail::slots_offset); }
    std::uint64_t write() const { return que::detail::producer_of(base)->write.load(std::memory_order_acquire); }
    std::uint64_t read() const { return que::detail::consumer_of(base)->read.load(std::memory_order_acquire); }
};

// Single pops hand slots back every min(64, N/4) messages (spsc.hpp).
constexpr std::uint64_t release_every = ring / 4 < 64 ? ring / 4 : 64;

} // namespace

int main() {
    const std::uint64_t total = std::max<std::uint64_t>(
        env_u64("QUE_SOAK_MESSAGES", 100'000'000) / QUE_TEST_SCALE_DIVISOR, 100'000);
    const std::uint64_t kills_wanted = env_u64("QUE_SOAK_KILLS", std::max<std::uint64_t>(total / 50'000, 20));
    const std::uint64_t seed =
        env_u64("QUE_SOAK_SEED", static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::printf("soak: %" PRIu64 " messages of %zu bytes, ring %zu, ~%" PRIu64 " SIGKILLs of producer or consumer, seed %" PRIu64
                " (QUE_SOAK_MESSAGES / QUE_TEST_SCALE_DIVISOR=%d, QUE_SOAK_KILLS, QUE_SOAK_SEED)\n",
                total, sizeof(message), ring, kills_wanted, seed, QUE_TEST_SCALE_DIVISOR);
    std::fflush(stdout);

    const std::string name = "que-soak-" + std::to_string(::getpid());
    que::shm_remove(name);
    std::error_code ec;
    {  // create the segment; the children join it
        consumer creator = consumer::open(que::shm{name, {.mode = que::open_mode::create}}, ec);
        if (ec) {
            std::fprintf(stderr, "soak: create failed: %s\n", ec.message().c_str());
            return 2;
        }
    }
    segment_view seg(name);
    void* mem = ::mmap(nullptr, sizeof(progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) die("mmap of the progress block failed");
    progress& pr = *new (mem) progress;

    xorshift rng{seed | 1};
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t mean_gap = std::max<std::uint64_t>(total / (kills_wanted + 1), 1);

    std::uint64_t kills = 0, producer_kills = 0, consumer_kills = 0, spawns = 0;
    std::uint64_t count_kills = 0, time_kills = 0, instant_kills = 0;
    std::uint64_t repeated = 0, max_repeat = 0, repeat_restarts = 0, in_flight_lost = 0, in_flight_restarts = 0;
    bool failed = false;

    pid_t prod = -1, cons = -1;
    bool producer_done = false;
    std::uint64_t kill_at = 0;  // kill once `delivered` reaches this ...
    std::chrono::steady_clock::time_point kill_deadline{};  // ... or at this time
    bool armed = false;
    bool kill_consumer = false;

    auto arm_kill = [&] {
        armed = kills < kills_wanted;
        if (!armed) return;
        kill_consumer = rng.below(2) == 0;
        const std::uint64_t mode = rng.below(10);
        kill_deadline = std::chrono::steady_clock::time_point::max();
        kill_at = ~std::uint64_t{0};
        if (mode < 7) {  // after a random number of messages
            kill_at = pr.delivered.load() + 1 + rng.below(2 * mean_gap);
        } else if (mode < 9) {  // after a random delay: open, mid-batch, anywhere
            kill_deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(rng.below(3000));
        } else {  // at once
            kill_deadline = std::chrono::steady_clock::time_point::min();
        }
    };
    auto start_producer = [&] {
        // The published write index; the previous producer is reaped, so it no longer moves.
        const std::uint64_t next = seg.write();
        const std::uint64_t s = rng.next();
        prod = spawn([&] { run_producer(name, next, total, s); });
        ++spawns;
    };
    auto start_consumer = [&](std::uint64_t first) {
        // Where it starts, before it runs: one killed before it got to store
        // this must not be judged by its predecessor's progress.
        pr.delivered.store(first);
        const std::uint64_t s = rng.next();
        cons = spawn([&] { run_consumer(name, first, total, s, pr); });
        ++spawns;
    };
    // A consumer is gone (killed and reaped): check what its successor will
    // see again, or what the interrupted call took with it, then restart.
    auto consumer_died = [&] {
        const std::uint64_t r = seg.read();
        const std::uint64_t d = pr.delivered.load();
        const std::uint64_t in_call = pr.in_call.load();
        const std::uint64_t peeked = pr.peeked.load();
        if (r <= d) {
            const std::uint64_t rep = d - r;
            if (rep > release_every - 1 + peeked) {
                std::fprintf(stderr, "soak: FAILED: a restarted consumer would repeat %" PRIu64
                             " messages (read index %" PRIu64 ", delivered %" PRIu64 ", peeked %" PRIu64 ")\n",
                             rep, r, d, peeked);
                failed = true;
            }
            repeated += rep;
            max_repeat = std::max(max_repeat, rep - std::min(rep, peeked));
            if (rep != 0) ++repeat_restarts;
        } else {
            const std::uint64_t lost = r - d;
            if (lost > in_call) {
                std::fprintf(stderr, "soak: FAILED: %" PRIu64 " messages released but never delivered (read index %"
                             PRIu64 ", delivered %" PRIu64 ", the interrupted call could take %" PRIu64 ")\n",
                             lost, r, d, in_call);
                failed = true;
            }
            in_flight_lost += lost;
            ++in_flight_restarts;
        }
        pr.in_call.store(0);
        pr.peeked.store(0);
        if (!failed) start_consumer(r);
    };

    start_consumer(0);
    start_producer();
    arm_kill();
    std::uint64_t last_progress = 0;
    auto last_progress_at = std::chrono::steady_clock::now();
    for (;;) {
        int status = 0;
        if (!producer_done && ::waitpid(prod, &status, WNOHANG) == prod) {
            if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                std::fprintf(stderr, "soak: producer exited with status %d\n", status);
                failed = true;
                break;
            }
            producer_done = true;
        }
        if (::waitpid(cons, &status, WNOHANG) == cons) {
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) break;  // it has every message
            if (pr.failed.load() != 0) {
                const std::uint64_t got = pr.bad_seq.load(), want = pr.bad_want.load();
                std::fprintf(stderr,
                             "soak: FAILED at message %" PRIu64 ": got seq %" PRIu64 " check %#" PRIx64
                             " (want %#" PRIx64 ") — %s; kills so far %" PRIu64 ", seed %" PRIu64 "\n",
                             want, got, pr.bad_check.load(), mix(got),
                             pr.bad_check.load() != mix(got) ? "torn" : got > want ? "lost (gap)" : "duplicate or reordered",
                             kills, seed);
            } else {
                std::fprintf(stderr, "soak: consumer exited with status %d\n", status);
            }
            failed = true;
            break;
        }
        const std::uint64_t delivered = pr.delivered.load();
        const auto now = std::chrono::steady_clock::now();
        if (delivered != last_progress) {
            last_progress = delivered;
            last_progress_at = now;
        } else if (now - last_progress_at > std::chrono::seconds(60)) {
            std::fprintf(stderr, "soak: FAILED: no progress for 60 s at message %" PRIu64 "\n", delivered);
            failed = true;
            break;
        }
        if (armed && (delivered >= kill_at ||
                      (kill_deadline != std::chrono::steady_clock::time_point::max() && now >= kill_deadline))) {
            const bool victim_is_consumer = kill_consumer || producer_done;
            const pid_t victim = victim_is_consumer ? cons : prod;
            ::kill(victim, SIGKILL);
            ::waitpid(victim, &status, 0);
            if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
                ++kills;
                if (kill_at != ~std::uint64_t{0}) ++count_kills;
                else if (kill_deadline == std::chrono::steady_clock::time_point::min()) ++instant_kills;
                else ++time_kills;
                if (victim_is_consumer) {
                    ++consumer_kills;
                    consumer_died();
                    if (failed) break;
                } else {
                    ++producer_kills;
                    start_producer();
                }
            } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                // It finished before the signal landed: not a kill.
                if (victim_is_consumer) break;
                producer_done = true;
            } else {
                std::fprintf(stderr, "soak: %s exited with status %d\n", victim_is_consumer ? "consumer" : "producer",
                             status);
                failed = true;
                break;
            }
            arm_kill();
        }
        ::usleep(100);  // the parent only watches: leave the CPUs to the two ends
    }

    int status = 0;
    if (failed) {
        ::kill(cons, SIGKILL);
        if (!producer_done) ::kill(prod, SIGKILL);
    }
    ::waitpid(cons, &status, 0);
    if (!producer_done) {
        ::waitpid(prod, &status, 0);
        if (!failed && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            std::fprintf(stderr, "soak: last producer exited with status %d\n", status);
            failed = true;
        }
    }
    const std::uint64_t delivered = pr.delivered.load();
    if (!failed && (delivered != total || seg.read() > total || seg.write() != total)) {
        std::fprintf(stderr, "soak: FAILED: delivered %" PRIu64 ", read index %" PRIu64 ", write index %" PRIu64
                     " of %" PRIu64 "\n", delivered, seg.read(), seg.write(), total);
        failed = true;
    }
    que::shm_remove(name, ec);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (failed) {
        std::printf("soak: FAILED after %" PRIu64 " good messages, %" PRIu64 " kills, %.1f s, seed %" PRIu64 "\n",
                    delivered, kills, secs, seed);
    } else {
        std::printf("soak: passed: %" PRIu64 " messages, each checked: none lost, duplicated, reordered or torn "
                    "beyond the contract; %" PRIu64 " SIGKILLs (%" PRIu64 " producer, %" PRIu64 " consumer; %" PRIu64
                    " after a message count, %" PRIu64 " after a delay, %" PRIu64 " right after fork), %" PRIu64
                    " processes; restarted consumers saw %" PRIu64 " messages again over %" PRIu64
                    " restarts (largest single-pop tail %" PRIu64 ", bound %" PRIu64 "), %" PRIu64
                    " messages taken by %" PRIu64 " interrupted pop calls; %.1f s, %.1f M msg/s\n",
                    delivered, kills, producer_kills, consumer_kills, count_kills, time_kills, instant_kills, spawns,
                    repeated, repeat_restarts, max_repeat, release_every - 1, in_flight_lost, in_flight_restarts,
                    secs, static_cast<double>(delivered) / secs / 1e6);
    }
    return failed ? 1 : 0;
}
