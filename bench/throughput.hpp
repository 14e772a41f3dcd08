// bench/throughput.hpp — the threads throughput grid (contenders x ring sizes)
// for one payload size. Split from threads.cpp so the grid's ~160 template
// instantiations compile in parallel translation units (tp_small.cpp,
// tp_large.cpp).
#pragma once

#include "harness.hpp"
#include "registry.hpp"
#include "ring_designs.hpp"
#include "thread_channels.hpp"

namespace que_bench::grid {

// Ring sizes in bytes of payload (slots = size / payload, a power of two, at
// least 2): within L1, within L2, about L2, a few MiB (4096 slots of
// 1264 B), far beyond the caches.
constexpr std::size_t KiB = 1024, MiB = 1024 * KiB;

template <class C>
void add_throughput(std::size_t bytes, std::size_t ring) {
    add("tp/" + std::string(C::name) + "/" + payload_label(bytes) + "/" + size_label(ring), threads_throughput<C>)
        ->Unit(benchmark::kMillisecond);
}

template <std::size_t Bytes, std::size_t Ring>
void throughput_point() {
    using M = message<Bytes>;
    constexpr std::size_t n = slots_for(Bytes, Ring);
#if QUE_BENCH_HAVE_QUE_SPSC
    add_throughput<que_push<M, n>>(Bytes, Ring);
    add_throughput<que_try<M, n>>(Bytes, Ring);
    add_throughput<que_batch<M, n>>(Bytes, Ring);
    add_throughput<que_inplace<M, n>>(Bytes, Ring);
#if QUE_BENCH_HAVE_QUE_HUGEPAGES
    add_throughput<que_push<M, n, true>>(Bytes, Ring);
#endif
    add_throughput<que_push_pair<M, n>>(Bytes, Ring);
#endif
#if QUE_BENCH_HAVE_ATOMIC_QUEUE
    add_throughput<atomic_queue_spsc<M, n>>(Bytes, Ring);
#endif
#if QUE_BENCH_HAVE_BOOST_LOCKFREE
    add_throughput<boost_spsc<M, n>>(Bytes, Ring);
#endif
#if QUE_BENCH_HAVE_MOODYCAMEL
    add_throughput<moodycamel_rwq<M, n>>(Bytes, Ring);
#endif
    add_throughput<mutex_deque<M, n>>(Bytes, Ring);
    // The candidate ring designs (bench/ring_designs.hpp), at the two payloads
    // the targets are set for.
    if constexpr (Bytes == 8 || Bytes == 1264) {
        add_throughput<designs::design_lamport<M, n>>(Bytes, Ring);
        add_throughput<designs::design_lazy<M, n>>(Bytes, Ring);
        add_throughput<designs::design_seqarray<M, n>>(Bytes, Ring);
        add_throughput<designs::design_seqslot<M, n>>(Bytes, Ring);
    }
}

template <std::size_t Bytes>
void throughput_payload() {
    throughput_point<Bytes, 4 * KiB>();
    throughput_point<Bytes, 64 * KiB>();
    throughput_point<Bytes, 1 * MiB>();
    throughput_point<Bytes, 8 * MiB>();
    throughput_point<Bytes, 64 * MiB>();
}

}  // namespace que_bench::grid
