// examples/stream.hpp — what the throughput examples share: two self-checking
// message types, the producer and consumer loops, pinning and a report line.
//
// Every message carries its sequence number and a check of its whole body, and
// the consumer verifies every one, so a figure printed here is for messages
// that provably arrived complete, once each, in order.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include <que/spsc.hpp>

namespace example {

constexpr std::uint64_t mix(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// 8 bytes: a 40-bit sequence number and a 24-bit check of it in one word.
struct msg8 {
    std::uint64_t word;

    static constexpr std::size_t ring = 65536;  // slots: 512 KiB
    static constexpr std::uint64_t seq_mask = (std::uint64_t{1} << 40) - 1;
    static void make_at(msg8* m, std::uint64_t seq) noexcept { m->word = seq | (mix(seq) << 40); }
    bool check(std::uint64_t seq) const noexcept { return word == (seq | (mix(seq) << 40)); }
};

// 1264 bytes: sequence number, a check of it, and 156 body words each derived
// from the sequence number, all compared on receipt (a torn copy mixes two
// messages' words and fails). Body word i is seq ^ keys.k[i], a fixed table:
// filling and checking a message are then straight vector loops (a
// broadcast, a load of the table, an xor, and an or-reduction on receipt).
// Computing each key in the loop (seq ^ i * constant) kept both loops scalar,
// and the demo then measured the examples' own arithmetic rather than the
// channel (docs/benchmarks.md).
struct body_keys {
    static constexpr std::size_t words = 156;
    std::uint64_t k[words];
    constexpr body_keys() : k{} {
        for (std::size_t i = 0; i < words; ++i) k[i] = mix(i) | 1;  // never 0: no body word equals seq
    }
};
inline constexpr body_keys keys{};

struct msg1264 {
    static constexpr std::size_t body_words = body_keys::words;
    // 632 KiB: within one core's L2 (the 5 MiB ring it replaced spilled out of it).
    static constexpr std::size_t ring = 512;
    std::uint64_t seq;
    std::uint64_t check_word;
    std::uint64_t body[body_words];

    static constexpr std::uint64_t word(std::uint64_t seq, std::size_t i) noexcept { return seq ^ keys.k[i]; }
    static void make_at(msg1264* m, std::uint64_t s) noexcept {
        m->seq = s;
        m->check_word = mix(s);
        for (std::size_t i = 0; i < body_words; ++i) m->body[i] = s ^ keys.k[i];
    }
    bool check(std::uint64_t s) const noexcept {
        std::uint64_t diff = (seq ^ s) | (check_word ^ mix(s));
        for (std::size_t i = 0; i < body_words; ++i) diff |= body[i] ^ s ^ keys.k[i];
        return diff == 0;
    }
};
static_assert(sizeof(msg8) == 8 && sizeof(msg1264) == 1264);

// Sends messages 0..count-1, written in place (claim/commit) in batches.
template <class M, class Producer>
void produce(Producer& tx, std::uint64_t count) {
    constexpr std::size_t batch = sizeof(M) == 8 ? 256 : 16;
    for (std::uint64_t seq = 0; seq < count;) {
        std::span<M> w = tx.claim(static_cast<std::size_t>(std::min<std::uint64_t>(batch, count - seq)));
        if (w.empty()) {
            que::cpu_relax();
            continue;
        }
        for (std::size_t i = 0; i < w.size(); ++i) M::make_at(&w[i], seq + i);
        tx.commit(w.size());
        seq += w.size();
    }
}

struct result {
    std::uint64_t received = 0;
    std::uint64_t bad = 0;  // wrong sequence number or body
    double seconds = 0;     // first message received .. last message received
};

// Receives `count` messages, read in place (peek/release), checking each one.
template <class M, class Consumer>
result consume(Consumer& rx, std::uint64_t count) {
    constexpr std::size_t batch = sizeof(M) == 8 ? 256 : 16;
    result r;
    std::chrono::steady_clock::time_point start{};
    while (r.received < count) {
        std::span<const M> in = rx.peek();
        if (in.empty()) {
            que::cpu_relax();
            continue;
        }
        if (r.received == 0) start = std::chrono::steady_clock::now();
        in = in.first(std::min(in.size(), batch));
        for (const M& m : in) {
            if (!m.check(r.received) && r.bad++ == 0)
                std::fprintf(stderr, "first bad message at sequence %llu\n",
                             static_cast<unsigned long long>(r.received));
            ++r.received;
        }
        rx.release(in.size());
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
}

// The bound a channel of M cannot beat here: one core copying messages into
// the next slot of a ring-sized buffer (what a producer's copy alone costs),
// nobody reading. Messages/s, best of a few 0.1 s rounds.
template <class M>
double memcpy_rate() {
    std::vector<M> ring_buf(M::ring), src(16);
    for (std::size_t i = 0; i < src.size(); ++i) M::make_at(&src[i], i);
    double best = 0;
    for (int round = 0; round < 5; ++round) {
        std::uint64_t n = 0;
        const auto start = std::chrono::steady_clock::now();
        double s = 0;
        do {
            for (int k = 0; k < 4096; ++k, ++n)
                std::memcpy(static_cast<void*>(&ring_buf[n & (M::ring - 1)]), &src[n & 15], sizeof(M));
            asm volatile("" : : "r"(ring_buf.data()) : "memory");  // the copies are observable
            s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        } while (s < 0.1);
        best = std::max(best, static_cast<double>(n) / s);
    }
    return best;
}

inline bool pin_to_cpu(int cpu) noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<std::size_t>(cpu), &set);
    return ::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set) == 0;
}

// One line a script can grep: "<label>: N messages of B bytes in S s: X M msg/s, Y GB/s, E errors".
inline void report(const char* label, std::size_t bytes, const result& r) {
    const double rate = r.seconds > 0 ? static_cast<double>(r.received) / r.seconds : 0;
    std::printf("%-28s %llu messages of %zu bytes in %.3f s: %.2f M msg/s, %.2f GB/s, %llu errors\n", label,
                static_cast<unsigned long long>(r.received), bytes, r.seconds, rate / 1e6,
                rate * static_cast<double>(bytes) / 1e9, static_cast<unsigned long long>(r.bad));
    std::fflush(stdout);
}

inline std::uint64_t parse_count(const char* s) {
    char* end = nullptr;
    const double v = std::strtod(s, &end);  // accepts 1e7
    if (end == s || *end != '\0' || v < 1) {
        std::fprintf(stderr, "bad message count '%s'\n", s);
        std::exit(2);
    }
    return static_cast<std::uint64_t>(v);
}

inline std::size_t parse_size(const char* s) {
    const std::string_view v(s);
    if (v == "8") return 8;
    if (v == "1264") return 1264;
    std::fprintf(stderr, "message size must be 8 or 1264, not '%s'\n", s);
    std::exit(2);
}

} // namespace example
