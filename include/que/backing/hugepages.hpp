// que/backing/hugepages.hpp — process-private memory on 2 MiB or 1 GiB pages.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <system_error>

#include "../detail/layout.hpp"
#include "../detail/mapping.hpp"
#include "../detail/pages.hpp"

namespace que {

// A ring for threads of one process on huge pages: fewer TLB misses for big
// rings. Needs pages reserved in the kernel's pool (scripts/hp.sh, scripts/gp.sh);
// when there are none, attaching fails with errc::no_huge_pages, or, with
// `fallback_to_standard`, maps standard pages and says so (handle.fell_back()).
struct hugepages {
    page_size pages = page_size::huge_2m;
    bool fallback_to_standard = false;

    detail::mapping attach(const detail::channel_spec& spec, std::error_code& ec) const {
        page_size used = pages;
        std::uint64_t bytes = detail::round_up(spec.segment_size(), detail::page_bytes(used));
        void* p = detail::map_anonymous(bytes, used, ec);
        bool fell_back = false;
        if (p == nullptr && fallback_to_standard && used != page_size::standard) {
            used = page_size::standard;
            bytes = detail::round_up(spec.segment_size(), detail::page_bytes(used));
            p = detail::map_anonymous(bytes, used, ec);
            fell_back = true;
        }
        if (p == nullptr) return {};
        // Anonymous mappings arrive zeroed, as initialize() requires.
        detail::initialize(p, spec, detail::page_bytes(used), static_cast<std::uint32_t>(::getpid()));
        std::shared_ptr<void> owner(p, [bytes](void* q) { ::munmap(q, bytes); });
        return {p, bytes, used, fell_back, true, std::move(owner)};
    }
};

} // namespace que
