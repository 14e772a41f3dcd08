// examples/spsc_threads.cpp — a channel between two threads of one process.
//
//   spsc_threads [COUNT [SIZE [--huge]]]      (defaults: 1e7 messages of 8 bytes)
//
// The producer thread runs on CPU 0 and the consumer on CPU 1, as the two
// processes of shm_producer/shm_consumer are pinned by scripts/demo.sh, so the
// two figures compare like with like. --huge puts the ring on 2 MiB pages
// (falling back to standard pages, and saying so, if none are reserved).
#include <cstdio>
#include <cstring>
#include <thread>

#include <que/spsc.hpp>

#include "stream.hpp"

namespace {

template <class M, class Backing>
int run(const Backing& where, std::uint64_t count) {
    auto [tx, rx] = que::spsc::make<M, M::ring>(where);
    if (rx.fell_back()) std::printf("spsc_threads: no huge pages reserved: using standard pages\n");
    example::result r;
    std::thread consumer([&, &rx = rx] {
        if (!example::pin_to_cpu(1)) std::fprintf(stderr, "spsc_threads: could not pin the consumer to CPU 1\n");
        r = example::consume<M>(rx, count);
    });
    std::thread producer([&, &tx = tx] {
        if (!example::pin_to_cpu(0)) std::fprintf(stderr, "spsc_threads: could not pin the producer to CPU 0\n");
        example::produce<M>(tx, count);
    });
    producer.join();
    consumer.join();
    if (!example::pin_to_cpu(0)) std::fprintf(stderr, "spsc_threads: could not pin to CPU 0\n");
    std::printf("limit: one core's memcpy of %zu-byte messages into a %zu-slot ring: %.2f M msg/s\n", sizeof(M),
                M::ring, example::memcpy_rate<M>() / 1e6);
    example::report(rx.page_size() == que::page_size::standard ? "threads (heap):" : "threads (2 MiB pages):",
                    sizeof(M), r);
    return r.bad == 0 && r.received == count ? 0 : 1;
}

template <class M>
int run(bool huge, std::uint64_t count) {
    return huge ? run<M>(que::hugepages{.pages = que::page_size::huge_2m, .fallback_to_standard = true}, count)
                : run<M>(que::heap{}, count);
}

} // namespace

int main(int argc, char** argv) {
    const std::uint64_t count = argc > 1 ? example::parse_count(argv[1]) : 10'000'000;
    const std::size_t size = argc > 2 ? example::parse_size(argv[2]) : 8;
    const bool huge = argc > 3 && std::strcmp(argv[3], "--huge") == 0;
    return size == 8 ? run<example::msg8>(huge, count) : run<example::msg1264>(huge, count);
}
