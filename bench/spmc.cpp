// bench/spmc.cpp — the headless (lossy) ring: how fast the producer goes when
// it never waits, and what fraction of its messages one consumer on the other
// CPU still receives.
//
// Each timed iteration is one burst: the producer (CPU 0) pushes n messages
// as fast as it can; the consumer (CPU 1) reads until every one of them is
// either received or counted in missed(). The iteration's time is the
// producer's push loop alone (manual time), so items_per_second is the
// producer's rate. The consumer checks every message it gets: intact (first
// and last word agree), in order, and exactly `missed()` messages skipped
// since the previous one — so received + missed == pushed holds message by
// message, not only at the end. A consumer stuck for 10 s aborts the run.
#include "harness.hpp"
#include "registry.hpp"

#if QUE_BENCH_HAVE_QUE_SPMC
#include <que/spmc.hpp>
#endif

namespace que_bench {
namespace {

#if QUE_BENCH_HAVE_QUE_SPMC

constexpr std::size_t KiB = 1024, MiB = 1024 * KiB;

// Producer and consumer each on cache lines of their own, as once moved into
// their threads (side by side in make()'s pair they would share a line).
template <class M, std::size_t N>
struct headless_state {
    static constexpr const char* name = "que_headless";
    using pair_type = decltype(que::spmc::make<M, N>());

    headless_state() : headless_state(que::spmc::make<M, N>()) {}
    explicit headless_state(pair_type&& p) : tx{std::move(p.first)}, rx{std::move(p.second)} {}

    alignas(line_bytes) typename pair_type::first_type tx;
    alignas(line_bytes) typename pair_type::second_type rx;
    std::uint64_t received = 0;  // consumer-only
    std::uint64_t last_seq = 0;  // consumer-only: sequence of the last message received
};

template <class M, std::size_t N>
void consume_until(headless_state<M, N>& st, std::uint64_t target) {
    auto& rx = st.rx;
    M m;
    std::uint64_t idle = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (st.received + rx.missed() < target) {
        const std::uint64_t missed_before = rx.missed();
        if (rx.try_pop(m)) {
            const std::uint64_t expected = st.last_seq + 1 + (rx.missed() - missed_before);
            check(m, expected, "que_headless");
            st.last_seq = expected;
            ++st.received;
            continue;
        }
        relax();
        if ((++idle & 0xfffff) == 0 && std::chrono::steady_clock::now() > deadline) {
            std::fprintf(stderr,
                         "que_bench: que_headless: consumer stuck: received %llu + missed %llu < pushed %llu\n",
                         static_cast<unsigned long long>(st.received), static_cast<unsigned long long>(rx.missed()),
                         static_cast<unsigned long long>(target));
            std::abort();
        }
    }
    if (st.received + rx.missed() != target) {
        std::fprintf(stderr, "que_bench: que_headless: received %llu + missed %llu != pushed %llu\n",
                     static_cast<unsigned long long>(st.received), static_cast<unsigned long long>(rx.missed()),
                     static_cast<unsigned long long>(target));
        std::abort();
    }
}

// Consumers: 1 (on CPU 1, checking every message) or 0 (the producer alone,
// to compare with one core's memcpy into a ring of the same size).
template <std::size_t Bytes, std::size_t Ring, int Consumers = 1>
void headless(benchmark::State& state) {
    using M = message<Bytes>;
    constexpr std::size_t n_slots = slots_for(Bytes, Ring);
    using S = headless_state<M, n_slots>;
    auto st = make_or_skip<S>(state);
    if (!st) return;
    worker w;
    if (!pinned_or_skip(state, w)) return;
    auto& tx = st->tx;

    std::uint64_t pushed = 0;
    message_source<M> src(1);
    auto burst_once = [&](std::uint64_t n) {
        const std::uint64_t target = pushed + n;
        if constexpr (Consumers == 1) w.run([&s = *st, target] { consume_until(s, target); });
        const std::uint64_t t0 = tsc::start();
        for (std::uint64_t i = 0; i < n; ++i) {
            ++pushed;
            tx.push(src[pushed]);
            src.next(pushed);
        }
        tx.flush();
        const std::uint64_t t1 = tsc::stop();
        if constexpr (Consumers == 1) w.wait();
        return static_cast<double>(t1 - t0) * tsc::ns_per_tick() * 1e-9;
    };

    const std::uint64_t warm = std::max<std::uint64_t>(n_slots, 4096);
    const std::uint64_t burst = burst_for_rate(warm, burst_once(warm));
    const std::uint64_t received_before = st->received, pushed_before = pushed;

    const double before = probe_placement_ns(w);
    double producer_seconds = 0;
    cpu_share_meter cpu;
    for (auto _ : state) {
        const double s = burst_once(burst);
        producer_seconds += s;
        state.SetIterationTime(s);
    }
    const double share = cpu.share();
    const double after = probe_placement_ns(w);

    const auto messages = static_cast<std::int64_t>(burst) * state.iterations();
    state.counters["cpu_share"] = share;
    const double received = static_cast<double>(st->received - received_before);
    state.SetItemsProcessed(messages);
    state.SetBytesProcessed(messages * static_cast<std::int64_t>(sizeof(M)));
    state.counters["received_fraction"] = received / static_cast<double>(pushed - pushed_before);
    state.counters["consumer_msgs_per_s"] = received / producer_seconds;
    state.counters["slots"] = static_cast<double>(n_slots);
    report_placement(state, before, after);
}

template <std::size_t Bytes>
void headless_payload() {
    const auto reg = [](std::size_t ring, auto fn) {
        benchmark::RegisterBenchmark(
            ("spmc/que_headless/" + payload_label(Bytes) + "/" + size_label(ring)).c_str(), fn)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
    };
    reg(64 * KiB, headless<Bytes, 64 * KiB>);
    reg(4 * MiB, headless<Bytes, 4 * MiB>);
    benchmark::RegisterBenchmark(("spmc/que_headless_alone/" + payload_label(Bytes) + "/" + size_label(64 * KiB)).c_str(),
                                 headless<Bytes, 64 * KiB, 0>)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
}

#endif  // QUE_BENCH_HAVE_QUE_SPMC

}  // namespace

void register_spmc() {
#if QUE_BENCH_HAVE_QUE_SPMC
    headless_payload<8>();
    headless_payload<1264>();
#endif
}

}  // namespace que_bench
