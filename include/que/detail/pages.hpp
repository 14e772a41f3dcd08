// que/detail/pages.hpp — page sizes and anonymous huge-page mappings.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

#include "../errc.hpp"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif
#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB (30 << MAP_HUGE_SHIFT)
#endif

namespace que {

// What backs a ring: the kernel's standard pages, 2 MiB huge pages, or 1 GiB
// "gigantic" pages. Huge pages cut TLB misses when a ring spans many pages.
enum class page_size : std::uint8_t { standard = 0, huge_2m = 1, gigantic_1g = 2 };

namespace detail {

inline std::uint64_t page_bytes(page_size p) noexcept {
    switch (p) {
    case page_size::huge_2m: return std::uint64_t{2} << 20;
    case page_size::gigantic_1g: return std::uint64_t{1} << 30;
    case page_size::standard: break;
    }
    return static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

inline int huge_mmap_flag(page_size p) noexcept {
    switch (p) {
    case page_size::huge_2m: return MAP_HUGETLB | MAP_HUGE_2MB;
    case page_size::gigantic_1g: return MAP_HUGETLB | MAP_HUGE_1GB;
    case page_size::standard: break;
    }
    return 0;
}

// Translates an mmap/ftruncate errno on a huge-page mapping. The kernel says
// ENOMEM (pool too small) or EINVAL (no pool of that size configured at all)
// for what a user fixes the same way: reserve pages.
inline std::error_code huge_page_error(int err) noexcept {
    if (err == ENOMEM || err == EINVAL || err == ENOSPC) return errc::no_huge_pages;
    return {err, std::system_category()};
}

// An anonymous private mapping of `bytes` (a multiple of the page size), all
// pages faulted in now (MAP_POPULATE) so the first messages don't page-fault.
inline void* map_anonymous(std::uint64_t bytes, page_size p, std::error_code& ec) noexcept {
    void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | huge_mmap_flag(p), -1, 0);
    if (m == MAP_FAILED) {
        ec = p == page_size::standard ? std::error_code{errc::out_of_memory} : huge_page_error(errno);
        return nullptr;
    }
    ec.clear();
    return m;
}

} // namespace detail
} // namespace que
