// tests/support/smaps.hpp — what page size the kernel really backs an address with.
//
//   que_test::kernel_page_size_kb(p)  the KernelPageSize (in kB) of the mapping in
//                                     /proc/self/smaps that contains `p`; 0 when no
//                                     mapping contains it or smaps is unreadable.
//
// Tests of huge-page backings check this rather than trusting the library's own
// report (handle.page_size()): 4 (standard), 2048 (2 MiB) or 1048576 (1 GiB).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace que_test {

inline std::uint64_t kernel_page_size_kb(const void* p) noexcept {
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    std::FILE* f = std::fopen("/proc/self/smaps", "r");
    if (f == nullptr) return 0;
    char line[512];
    bool inside = false;
    std::uint64_t result = 0;
    while (std::fgets(line, sizeof(line), f) != nullptr) {
        unsigned long lo = 0, hi = 0;
        char dash = 0;
        // A mapping's header line starts "lo-hi perms ..." (hex, no 0x); the
        // field lines that follow start with a capitalised name and a colon.
        if (std::sscanf(line, "%lx%c%lx ", &lo, &dash, &hi) == 3 && dash == '-') {
            inside = addr >= lo && addr < hi;
            continue;
        }
        unsigned long kb = 0;
        if (inside && std::sscanf(line, "KernelPageSize: %lu kB", &kb) == 1) {
            result = kb;
            break;
        }
    }
    std::fclose(f);
    return result;
}

}  // namespace que_test
