// que/backing/heap.hpp — process-private memory from the C++ heap (the default).
#pragma once

#include <unistd.h>

#include <cstring>
#include <memory>
#include <new>
#include <system_error>

#include "../detail/layout.hpp"
#include "../detail/mapping.hpp"

namespace que {

// A ring for threads of one process. 128-byte aligned and zeroed. It comes
// from operator new rather than mmap so that AddressSanitizer guards its ends.
struct heap {
    detail::mapping attach(const detail::channel_spec& spec, std::error_code& ec) const {
        const std::uint64_t bytes = spec.segment_size();
        void* p = ::operator new(bytes, std::align_val_t{detail::cache_line}, std::nothrow);
        if (p == nullptr) {
            ec = errc::out_of_memory;
            return {};
        }
        std::memset(p, 0, bytes);
        detail::initialize(p, spec, detail::page_bytes(page_size::standard),
                           static_cast<std::uint32_t>(::getpid()));
        ec.clear();
        std::shared_ptr<void> owner(p, [](void* q) { ::operator delete(q, std::align_val_t{detail::cache_line}); });
        return {p, bytes, page_size::standard, false, true, std::move(owner)};
    }
};

} // namespace que
