// bench/harness.hpp — the two measurement loops for channels between threads:
// throughput (one producer streams, one consumer checks) and round trip
// (ping-pong over two channels). Both run the producer/initiator on the
// Google Benchmark thread (pinned to CPU 0 by main) and the other side on a
// worker pinned to CPU 1.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <string>

#include "common.hpp"

namespace que_bench {

// Builds a channel, turning a failure (no huge pages, out of memory) into a
// skipped benchmark with the reason instead of a crash.
template <class C>
std::unique_ptr<C> make_or_skip(benchmark::State& state) {
    try {
        return std::make_unique<C>();
    } catch (const std::exception& e) {
        state.SkipWithError((std::string(C::name) + ": " + e.what()).c_str());
    }
    return nullptr;
}

inline bool pinned_or_skip(benchmark::State& state, const worker& w) {
    if (w.pinned()) return true;
    state.SkipWithError("cannot pin the consumer thread to CPU 1");
    return false;
}

// Throughput: each timed iteration moves one burst of messages end to end —
// the iteration ends when the consumer has checked the last one, so a
// producer that merely fills a large ring gains nothing. Before timing, one
// full lap of the ring (at least 4096 messages) warms caches, faults in every
// page a peer allocated lazily, and sizes the burst to ~5 ms.
template <class C>
void threads_throughput(benchmark::State& state) {
    auto ch = make_or_skip<C>(state);
    if (!ch) return;
    worker w;
    if (!pinned_or_skip(state, w)) return;

    std::uint64_t next = 1;  // 0 never travels (atomic_queue's "empty" value)
    auto transfer = [&](std::uint64_t n) {
        w.run([&c = *ch, first = next, n] { c.consume(first, n); });
        ch->produce(next, n);
        w.wait();
        next += n;
    };

    const std::uint64_t warm = std::clamp<std::uint64_t>(ch->slots(), 4096, std::uint64_t{1} << 24);
    const auto t0 = std::chrono::steady_clock::now();
    transfer(warm);
    const std::uint64_t burst = burst_for_rate(warm, seconds_since(t0));

    const double before = probe_placement_ns(w);
    cpu_share_meter cpu;
    for (auto _ : state) transfer(burst);
    const double share = cpu.share();
    const double after = probe_placement_ns(w);

    const auto messages = static_cast<std::int64_t>(burst) * state.iterations();
    state.SetItemsProcessed(messages);
    state.SetBytesProcessed(messages * static_cast<std::int64_t>(sizeof(typename C::message_type)));
    state.counters["slots"] = static_cast<double>(ch->slots());
    state.counters["burst"] = static_cast<double>(burst);
    state.counters["cpu_share"] = share;
    report_placement(state, before, after);
}

// Round trip: the initiator sends message i on one channel, the worker checks
// it and sends it back on another, the initiator checks the echo. Every trip
// is timed with the TSC into a histogram; the counters give median, p99 and
// p99.9. Iteration count is known before the loop (max_iterations), so the
// worker echoes exactly that many plus the untimed warm-up trips.
template <class C>
void threads_round_trip(benchmark::State& state) {
    auto there = make_or_skip<C>(state);
    if (!there) return;
    auto back = make_or_skip<C>(state);
    if (!back) return;
    worker w;
    if (!pinned_or_skip(state, w)) return;

    using M = typename C::message_type;
    constexpr std::uint64_t warm = 10000;
    const std::uint64_t trips = warm + static_cast<std::uint64_t>(state.max_iterations);

    const double before = probe_placement_ns(w);
    w.run([&] {
        M m;
        for (std::uint64_t s = 1; s <= trips; ++s) {
            there->recv(m);
            check(m, s, C::name);
            back->send(m);
        }
    });

    // The messages come from a message_source (stamped ahead), and the
    // re-stamp happens outside the timed span.
    M echo;
    message_source<M> src(1);
    std::uint64_t s = 1;
    for (; s <= warm; ++s) {
        there->send(src[s]);
        src.next(s);
        back->recv(echo);
        check(echo, s, C::name);
    }
    histogram h;
    cpu_share_meter cpu;
    for (auto _ : state) {
        const std::uint64_t t0 = tsc::start();
        there->send(src[s]);
        back->recv(echo);
        const std::uint64_t t1 = tsc::stop();
        check(echo, s, C::name);
        h.add(t1 - t0);
        src.next(s++);
    }
    const double share = cpu.share();
    w.wait();
    const double after = probe_placement_ns(w);

    report_round_trips(state, h);
    state.counters["cpu_share"] = share;
    report_placement(state, before, after);
}

}  // namespace que_bench
