// bench/main.cpp — one executable for every family, so a single invocation can
// interleave que, its peers and the limits (--benchmark_enable_random_interleaving)
// and every ratio comes from the same run.
#include <cstdio>

#include "common.hpp"
#include "registry.hpp"

namespace que_bench {

std::string features() {
    std::string f;
    const auto add_if = [&f](bool on, const char* name) {
        if (!on) return;
        if (!f.empty()) f += ',';
        f += name;
    };
    add_if(QUE_BENCH_HAVE_QUE_SPSC, "que_spsc");
    add_if(QUE_BENCH_HAVE_QUE_HUGEPAGES, "que_hugepages");
    add_if(QUE_BENCH_HAVE_QUE_SHM, "que_shm");
    add_if(QUE_BENCH_HAVE_QUE_SPMC, "que_spmc");
    add_if(QUE_BENCH_HAVE_ATOMIC_QUEUE, "atomic_queue");
    add_if(QUE_BENCH_HAVE_BOOST_LOCKFREE, "boost_lockfree");
    add_if(QUE_BENCH_HAVE_MOODYCAMEL, "moodycamel");
    add_if(QUE_BENCH_HAVE_BOOST_INTERPROCESS, "boost_interprocess");
    add_if(QUE_BENCH_HAVE_ZMQ, "zmq");
    return f;
}

}  // namespace que_bench

int main(int argc, char** argv) {
    // Google Benchmark's own thread is every benchmark's producer.
    if (!que_bench::pin_this_thread(que_bench::producer_cpu)) {
        std::fprintf(stderr, "que_bench: cannot pin to CPU %d\n", que_bench::producer_cpu);
        return 1;
    }
    que_bench::tsc::calibrate();

    que_bench::register_threads();
    que_bench::register_limits();
    que_bench::register_processes();
    que_bench::register_spmc();

    benchmark::AddCustomContext("que_bench_features", que_bench::features());
    benchmark::AddCustomContext("tsc_ns_per_tick", std::to_string(que_bench::tsc::ns_per_tick()));
    benchmark::AddCustomContext("producer_cpu", std::to_string(que_bench::producer_cpu));
    benchmark::AddCustomContext("consumer_cpu", std::to_string(que_bench::consumer_cpu));

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
