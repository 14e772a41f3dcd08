// bench/limits.cpp — what no channel can beat on this machine, measured in the
// same run as the channels so each result can be given as a fraction of it:
//  - limit_memcpy: one core copying each message into the next slot of a
//    ring-sized buffer, exactly the producer's share of the work with nobody
//    reading. (A real channel also moves every line to the other core, so it
//    is an upper bound.)
//  - limit_pingpong: one cache line's round trip between CPU 0 and CPU 1, the
//    floor for any round trip over shared memory.
#include <memory>
#include <new>

#include "harness.hpp"
#include "registry.hpp"

namespace que_bench {
namespace {

constexpr std::size_t KiB = 1024, MiB = 1024 * KiB;

struct aligned_delete {
    void operator()(void* p) const noexcept { ::operator delete(p, std::align_val_t{line_bytes}); }
};

template <std::size_t Bytes, std::size_t Ring>
void limit_memcpy(benchmark::State& state) {
    using M = message<Bytes>;
    constexpr std::size_t n = slots_for(Bytes, Ring);
    std::unique_ptr<void, aligned_delete> storage(::operator new(n * sizeof(M), std::align_val_t{line_bytes}));
    std::memset(storage.get(), 0, n * sizeof(M));  // fault every page in before timing
    auto* ring = static_cast<M*>(storage.get());
    worker w;  // only for the placement probes
    if (!pinned_or_skip(state, w)) return;

    std::uint64_t seq = 1;
    message_source<M> src(seq);  // the producers' messages, made the producers' way
    auto copy = [&](std::uint64_t count) {
        for (std::uint64_t i = 0; i < count; ++i, ++seq) {
            std::memcpy(static_cast<void*>(&ring[seq & (n - 1)]), &src[seq], sizeof(M));
            src.next(seq);
        }
        benchmark::ClobberMemory();  // the stores must happen, in order, before the clock stops
    };

    const std::uint64_t warm = std::max<std::uint64_t>(n, 4096);
    const auto t0 = std::chrono::steady_clock::now();
    copy(warm);
    const std::uint64_t burst = burst_for_rate(warm, seconds_since(t0));

    const double before = probe_placement_ns(w);
    cpu_share_meter cpu;  // the idle worker spins too, so an undisturbed run scores ~1
    for (auto _ : state) copy(burst);
    const double share = cpu.share();
    const double after = probe_placement_ns(w);
    benchmark::DoNotOptimize(ring);

    const auto messages = static_cast<std::int64_t>(burst) * state.iterations();
    state.SetItemsProcessed(messages);
    state.SetBytesProcessed(messages * static_cast<std::int64_t>(sizeof(M)));
    state.counters["slots"] = static_cast<double>(n);
    state.counters["burst"] = static_cast<double>(burst);
    state.counters["cpu_share"] = share;
    report_placement(state, before, after);
}

void limit_pingpong(benchmark::State& state) {
    static pingpong_line line;
    worker w;
    if (!pinned_or_skip(state, w)) return;
    constexpr std::uint64_t warm = 10000;
    const double before = probe_placement_ns(w);
    const std::uint64_t base = line.value.load(std::memory_order_relaxed);
    const std::uint64_t trips = warm + static_cast<std::uint64_t>(state.max_iterations);
    w.run([base, trips] { pingpong_respond(line, base, trips); });
    std::uint64_t v = pingpong_initiate(line, base, warm, nullptr);
    histogram h;
    cpu_share_meter cpu;
    for (auto _ : state) v = pingpong_initiate(line, v, 1, &h);
    const double share = cpu.share();
    w.wait();
    const double after = probe_placement_ns(w);
    report_round_trips(state, h);
    state.counters["cpu_share"] = share;
    report_placement(state, before, after);
}

template <std::size_t Bytes>
void memcpy_payload() {
    const auto reg = [](std::size_t ring, auto fn) {
        add("limit_memcpy/" + payload_label(Bytes) + "/" + size_label(ring), fn)->Unit(benchmark::kMillisecond);
    };
    reg(4 * KiB, limit_memcpy<Bytes, 4 * KiB>);
    reg(64 * KiB, limit_memcpy<Bytes, 64 * KiB>);
    reg(1 * MiB, limit_memcpy<Bytes, 1 * MiB>);
    reg(8 * MiB, limit_memcpy<Bytes, 8 * MiB>);
    reg(64 * MiB, limit_memcpy<Bytes, 64 * MiB>);
}

}  // namespace

void register_limits() {
    memcpy_payload<8>();
    memcpy_payload<64>();
    memcpy_payload<256>();
    memcpy_payload<1264>();
    memcpy_payload<4096>();
    add("limit_pingpong", limit_pingpong)->Unit(benchmark::kNanosecond);
}

}  // namespace que_bench
