// bench/threads.cpp — que against the peers between two threads: round-trip
// latency here, the throughput grid in tp_small.cpp / tp_large.cpp.
#include "harness.hpp"
#include "registry.hpp"
#include "ring_designs.hpp"
#include "thread_channels.hpp"

namespace que_bench {

void register_throughput_small();  // tp_small.cpp: 8, 64, 256 B
void register_throughput_large();  // tp_large.cpp: 1264, 4096 B

namespace {

constexpr std::size_t KiB = 1024;

template <class C>
void add_round_trip(std::size_t bytes) {
    add("rtt/" + std::string(C::name) + "/" + payload_label(bytes), threads_round_trip<C>)
        ->Unit(benchmark::kNanosecond);
}

// Round trips carry one message at a time, so the ring size hardly matters:
// 64 KiB of payload, as in the process comparison.
template <std::size_t Bytes>
void round_trip_payload() {
    using M = message<Bytes>;
    constexpr std::size_t n = slots_for(Bytes, 64 * KiB);
#if QUE_BENCH_HAVE_QUE_SPSC
    add_round_trip<que_push<M, n>>(Bytes);
    add_round_trip<que_push_pair<M, n>>(Bytes);
#endif
#if QUE_BENCH_HAVE_ATOMIC_QUEUE
    add_round_trip<atomic_queue_spsc<M, n>>(Bytes);
#endif
#if QUE_BENCH_HAVE_BOOST_LOCKFREE
    add_round_trip<boost_spsc<M, n>>(Bytes);
#endif
#if QUE_BENCH_HAVE_MOODYCAMEL
    add_round_trip<moodycamel_rwq<M, n>>(Bytes);
#endif
    add_round_trip<mutex_deque<M, n>>(Bytes);
    add_round_trip<designs::design_lamport<M, n>>(Bytes);
    add_round_trip<designs::design_lazy<M, n>>(Bytes);
    add_round_trip<designs::design_seqarray<M, n>>(Bytes);
    add_round_trip<designs::design_seqslot<M, n>>(Bytes);
}

}  // namespace

void register_threads() {
    register_throughput_small();
    register_throughput_large();

    round_trip_payload<8>();
    round_trip_payload<64>();
    round_trip_payload<1264>();
}

}  // namespace que_bench
