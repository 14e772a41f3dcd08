// tests/soak/soak.cpp — a long run of the lossless channel between two
// processes, with the producer killed (SIGKILL) at random points and
// restarted, checking every message.
//
// Processes: this process creates the channel in /dev/shm and is the
// consumer; it forks producer processes one after another. Each producer
// joins with open mode `open` and writes message i at ring index i, so it
// continues from the published write index: the parent, after reaping a
// killed producer, reads that index as (messages consumed + rx.size()) and
// hands it to the next producer as its first sequence number. Messages a
// producer copied into slots but had not published when it died are not
// committed; the next producer writes those indices again.
//
// Kill points: after a random number of consumed messages, after a random
// delay (so the kill may land during open, mid-batch, between memcpy and the
// index store), or at once after fork. The consumer checks each message:
// sequence == expected (a gap is a lost committed message, a smaller one a
// duplicate or reordering) and check == mix(sequence) (a torn message).
//
// Size: QUE_SOAK_MESSAGES (default 10^8, divided by QUE_TEST_SCALE_DIVISOR),
// QUE_SOAK_KILLS (default: one per ~50k messages, at least 20),
// QUE_SOAK_SEED (default: from the clock; printed, so a failure can be
// replayed with the same kill schedule).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

pid_t spawn(const std::string& name, std::uint64_t first, std::uint64_t total, std::uint64_t seed) {
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = ::fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) run_producer(name, first, total, seed);
    return pid;
}

} // namespace

int main() {
    const std::uint64_t total = std::max<std::uint64_t>(
        env_u64("QUE_SOAK_MESSAGES", 100'000'000) / QUE_TEST_SCALE_DIVISOR, 100'000);
    const std::uint64_t kills_wanted = env_u64("QUE_SOAK_KILLS", std::max<std::uint64_t>(total / 50'000, 20));
    const std::uint64_t seed =
        env_u64("QUE_SOAK_SEED", static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::printf("soak: %" PRIu64 " messages of %zu bytes, ring %zu, ~%" PRIu64 " producer kills, seed %" PRIu64
                " (QUE_SOAK_MESSAGES / QUE_TEST_SCALE_DIVISOR=%d, QUE_SOAK_KILLS, QUE_SOAK_SEED)\n",
                total, sizeof(message), ring, kills_wanted, seed, QUE_TEST_SCALE_DIVISOR);
    std::fflush(stdout);

    const std::string name = "que-soak-" + std::to_string(::getpid());
    que::shm_remove(name);
    std::error_code ec;
    consumer rx = consumer::open(que::shm{name, {.mode = que::open_mode::create, .remove_on_close = true}}, ec);
    if (ec) {
        std::fprintf(stderr, "soak: create failed: %s\n", ec.message().c_str());
        return 2;
    }

    xorshift rng{seed | 1};
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t mean_gap = std::max<std::uint64_t>(total / (kills_wanted + 1), 1);

    std::uint64_t expected = 0;  // next sequence number the consumer must see
    std::uint64_t kills = 0, spawns = 0, count_kills = 0, time_kills = 0, instant_kills = 0;
    bool failed = false;

    pid_t child = -1;
    std::uint64_t kill_at = 0;  // kill once `expected` reaches this ...
    std::chrono::steady_clock::time_point kill_deadline{};  // ... or at this time
    bool armed = false;

    auto arm_kill = [&] {
        armed = kills < kills_wanted;
        if (!armed) return;
        const std::uint64_t mode = rng.below(10);
        kill_deadline = std::chrono::steady_clock::time_point::max();
        kill_at = ~std::uint64_t{0};
        if (mode < 7) {  // after a random number of messages
            kill_at = expected + 1 + rng.below(2 * mean_gap);
        } else if (mode < 9) {  // after a random delay: open, mid-batch, anywhere
            kill_deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(rng.below(3000));
        } else {  // at once
            kill_deadline = std::chrono::steady_clock::time_point::min();
        }
    };
    auto start_producer = [&] {
        // The published write index: everything consumed plus what is still
        // in the ring. The previous producer is reaped, so it no longer moves.
        const std::uint64_t next = expected + rx.size();
        child = spawn(name, next, total, rng.next());
        ++spawns;
        arm_kill();
    };

    start_producer();
    message buf[512];
    unsigned idle = 0;
    while (expected < total && !failed) {
        // Random consumer paths too: batch copy, single pop, read in place.
        std::size_t n = 0;
        const std::uint64_t r = rng.next();
        if (r % 16 == 0) {
            std::span<const message> view = rx.peek();
            n = std::min<std::size_t>(view.size(), 1 + (r >> 8) % 512);
            std::memcpy(buf, view.data(), n * sizeof(message));
            rx.release(n);
        } else if (r % 16 == 1) {
            n = rx.try_pop(buf[0]) ? 1 : 0;
        } else {
            n = rx.try_pop(std::span<message>(buf));
        }
        for (std::size_t i = 0; i < n; ++i) {
            const message& m = buf[i];
            if (m.seq != expected || m.check != mix(m.seq)) {
                std::fprintf(stderr,
                             "soak: FAILED at message %" PRIu64 ": got seq %" PRIu64 " check %#" PRIx64
                             " (want %#" PRIx64 ") — %s; kills so far %" PRIu64 ", seed %" PRIu64 "\n",
                             expected, m.seq, m.check, mix(m.seq),
                             m.check != mix(m.seq) ? "torn" : m.seq > expected ? "lost (gap)" : "duplicate or reordered",
                             kills, seed);
                failed = true;
                break;
            }
            ++expected;
        }
        if (n == 0 && ++idle % 64 == 0) ::sched_yield();

        if (armed && (expected >= kill_at ||
                      (kill_deadline != std::chrono::steady_clock::time_point::max() &&
                       std::chrono::steady_clock::now() >= kill_deadline))) {
            ::kill(child, SIGKILL);
            int status = 0;
            ::waitpid(child, &status, 0);
            if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
                ++kills;
                if (kill_at != ~std::uint64_t{0}) ++count_kills;
                else if (kill_deadline == std::chrono::steady_clock::time_point::min()) ++instant_kills;
                else ++time_kills;
            } else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                // It may have finished before the signal landed (exit 0): that
                // is not a kill. Anything else is a producer that failed.
                std::fprintf(stderr, "soak: producer exited with status %d\n", status);
                failed = true;
                break;
            }
            start_producer();
        }
    }

    int status = 0;
    if (failed) ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    if (!failed && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        std::fprintf(stderr, "soak: last producer exited with status %d\n", status);
        failed = true;
    }
    message extra{};
    if (!failed && rx.try_pop(extra)) {
        std::fprintf(stderr, "soak: FAILED: message %" PRIu64 " after the last one\n", extra.seq);
        failed = true;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (failed) {
        std::printf("soak: FAILED after %" PRIu64 " good messages, %" PRIu64 " producer kills, %.1f s, seed %" PRIu64
                    "\n", expected, kills, secs, seed);
    } else {
        std::printf("soak: passed: %" PRIu64 " messages, each checked: none lost, duplicated, reordered or torn; "
                    "%" PRIu64 " producer SIGKILLs (%" PRIu64 " after a message count, %" PRIu64
                    " after a delay, %" PRIu64 " right after fork), %" PRIu64 " producer processes; %.1f s, "
                    "%.1f M msg/s\n",
                    expected, kills, count_kills, time_kills, instant_kills, spawns, secs,
                    static_cast<double>(expected) / secs / 1e6);
    }
    return failed ? 1 : 0;
}
