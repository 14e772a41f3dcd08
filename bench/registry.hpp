// bench/registry.hpp — each family registers its benchmarks from main() (not
// from static initialisers) so the order is fixed and names are built once.
//
// Names are slash-separated fields that scripts/plot_bench.py parses:
//   tp/<contender>/<payload>B/<ring>         threads throughput
//   rtt/<contender>/<payload>B               threads round trip
//   proc_tp/<contender>/<payload>B/<ring>    processes throughput
//   proc_rtt/<contender>/<payload>B          processes round trip
//   limit_memcpy/<payload>B/<ring>           one core's copy into a ring-sized buffer
//   limit_pingpong                           one cache line's round trip CPU 0 <-> 1
//   spmc/<contender>/<payload>B/<ring>       headless ring: producer rate, fraction received
// (Google Benchmark appends "/real_time".)
#pragma once

#include <cstddef>
#include <string>

#include <benchmark/benchmark.h>

namespace que_bench {

void register_threads();
void register_limits();
void register_processes();
void register_spmc();

// The features this build found, recorded in the JSON context.
std::string features();

template <class Fn>
benchmark::internal::Benchmark* add(const std::string& name, Fn fn) {
    return benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime();
}

inline std::string payload_label(std::size_t bytes) { return std::to_string(bytes) + "B"; }

}  // namespace que_bench
