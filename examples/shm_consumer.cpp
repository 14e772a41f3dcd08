// examples/shm_consumer.cpp — the receiving process of a channel in shared memory.
//
//   shm_consumer NAME COUNT SIZE [--huge]
//
// Receives COUNT messages of SIZE bytes (8 or 1264) from shm_producer, checks
// the sequence number and the whole body of every one, and prints messages/s
// and GB/s (timed from the first message to the last). Exits non-zero if any
// message was lost, duplicated, reordered or damaged. The consumer owns the
// name: it removes it when it is done (remove_on_close).
#include <cstdio>
#include <cstring>
#include <system_error>

#include <que/spsc.hpp>

#include "stream.hpp"

namespace {

template <class M>
int run(const que::shm& where, std::uint64_t count) {
    std::error_code ec;
    auto rx = que::spsc::consumer<M, M::ring>::open(where, ec);
    if (ec) {
        std::fprintf(stderr, "shm_consumer: cannot open '%s': %s\n", where.name.c_str(), ec.message().c_str());
        return 1;
    }
    const example::result r = example::consume<M>(rx, count);
    example::report(rx.page_size() == que::page_size::standard ? "processes (shm):" : "processes (shm, 2 MiB pages):",
                    sizeof(M), r);
    return r.bad == 0 && r.received == count ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s NAME COUNT SIZE(8|1264) [--huge]\n", argv[0]);
        return 2;
    }
    que::shm where{argv[1], {.remove_on_close = true}};
    if (argc > 4 && std::strcmp(argv[4], "--huge") == 0) where.options.pages = que::page_size::huge_2m;
    const std::uint64_t count = example::parse_count(argv[2]);
    return example::parse_size(argv[3]) == 8 ? run<example::msg8>(where, count)
                                             : run<example::msg1264>(where, count);
}
