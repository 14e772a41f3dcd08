// examples/hugepages.cpp — rings on 2 MiB pages, process-private and shared.
//
//   hugepages
//
// Huge pages need a reserved pool (as root: scripts/hp.sh 16) and, for a shared
// ring, a hugetlbfs mount (scripts/mount_huge_and_gigantic.sh). Without them
// this example shows the errors que reports and the fallback it offers.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <system_error>

#include <que/spsc.hpp>

namespace {

struct tick {
    std::uint64_t seq;
    double price;
};

const char* describe(que::page_size p) {
    switch (p) {
    case que::page_size::huge_2m: return "2 MiB pages";
    case que::page_size::gigantic_1g: return "1 GiB pages";
    case que::page_size::standard: break;
    }
    return "standard pages";
}

} // namespace

int main() {
    constexpr std::size_t n = 1 << 16;  // 1 MiB of ticks: one huge page instead of 256 small ones

    // 1. Process-private, huge pages required: an error if the pool is empty.
    std::error_code ec;
    auto strict = que::spsc::make<tick, n>(que::hugepages{que::page_size::huge_2m}, ec);
    if (ec)
        std::printf("private ring on 2 MiB pages: %s\n", ec.message().c_str());
    else
        std::printf("private ring on 2 MiB pages: ok, on %s\n", describe(strict.second.page_size()));

    // 2. Process-private, huge pages preferred: falls back and says so.
    auto [tx, rx] = que::spsc::make<tick, n>(que::hugepages{.pages = que::page_size::huge_2m,
                                                            .fallback_to_standard = true});
    std::printf("private ring, huge pages preferred: on %s%s\n", describe(rx.page_size()),
                rx.fell_back() ? " (fell back: no huge pages reserved)" : "");
    tx.push({1, 100.25});
    std::printf("  popped tick %llu\n", static_cast<unsigned long long>(rx.pop().seq));

    // 3. Shared between processes, on hugetlbfs (default mount /mnt/que-huge-2m).
    const que::shm where{"que-example-huge-" + std::to_string(::getpid()),
                         {.pages = que::page_size::huge_2m, .remove_on_close = true}};
    auto shared_tx = que::spsc::producer<tick, n>::open(where, ec);
    if (ec) {
        std::printf("shared ring on 2 MiB pages: %s\n", ec.message().c_str());
        return 0;
    }
    auto shared_rx = que::spsc::consumer<tick, n>::open(where);  // another process would do this
    shared_tx.push({2, 101.5});
    std::printf("shared ring on %s under %s: popped tick %llu\n", describe(shared_rx.page_size()),
                std::string(que::default_hugetlbfs_dir_2m).c_str(),
                static_cast<unsigned long long>(shared_rx.pop().seq));
    return 0;
}
