// examples/shm_producer.cpp — the sending process of a channel in shared memory.
//
//   shm_producer NAME COUNT SIZE [--huge]
//
// Sends COUNT self-checking messages of SIZE bytes (8 or 1264) over the
// channel named NAME, which shm_consumer (run with the same arguments) reads.
// Either program may start first: whichever comes first creates the channel,
// the other joins it. --huge puts it on 2 MiB pages (a hugetlbfs mounted at
// /mnt/que-huge-2m: scripts/hp.sh and scripts/mount_huge_and_gigantic.sh).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>

#include <que/spsc.hpp>

#include "stream.hpp"

namespace {

template <class M>
int run(const que::shm& where, std::uint64_t count) {
    std::error_code ec;
    auto tx = que::spsc::producer<M, M::ring>::open(where, ec);
    if (ec) {
        std::fprintf(stderr, "shm_producer: cannot open '%s': %s\n", where.name.c_str(), ec.message().c_str());
        return 1;
    }
    const auto start = std::chrono::steady_clock::now();
    example::produce<M>(tx, count);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("shm_producer: sent %llu messages of %zu bytes in %.3f s\n", static_cast<unsigned long long>(count),
                sizeof(M), s);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s NAME COUNT SIZE(8|1264) [--huge]\n", argv[0]);
        return 2;
    }
    que::shm where{argv[1]};
    if (argc > 4 && std::strcmp(argv[4], "--huge") == 0) where.options.pages = que::page_size::huge_2m;
    const std::uint64_t count = example::parse_count(argv[2]);
    return example::parse_size(argv[3]) == 8 ? run<example::msg8>(where, count)
                                             : run<example::msg1264>(where, count);
}
