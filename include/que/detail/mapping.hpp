// que/detail/mapping.hpp — what a backing hands to a channel handle: a mapped,
// initialised and validated segment, plus the owner that frees it.
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>

#include "pages.hpp"

namespace que::detail {

struct mapping {
    void* base = nullptr;          // segment start: the header (128-byte aligned)
    std::uint64_t bytes = 0;       // bytes mapped (>= header.segment_size)
    que::page_size pages = que::page_size::standard;  // what actually backs it
    bool fell_back = false;        // huge pages were asked for but standard pages were used
    bool created = false;          // this call created (initialised) the segment
    // Frees or unmaps the memory (and may unlink a shared name) when the last
    // handle of this process that uses it goes away.
    std::shared_ptr<void> owner;
    // Points into the owner: whether dropping the last handle unlinks the
    // shared name (shm's remove_on_close). Null for private backings.
    bool* remove_on_close = nullptr;
    // Mapped PROT_READ (attach_read_only): a store into it faults.
    bool read_only = false;
};

// A read-only attach where the backing offers one (que::shm, que::memfd:
// `attach_read_only(spec, ec)`), else the backing's attach (process-private
// backings have nobody to protect the memory from). For handles that never
// write shared memory: spmc consumers.
template <class Backing, class Spec, class Ec>
mapping attach_read_only(const Backing& b, const Spec& spec, Ec& ec) {
    if constexpr (requires { { b.attach_read_only(spec, ec) } -> std::same_as<mapping>; })
        return b.attach_read_only(spec, ec);
    else
        return b.attach(spec, ec);
}

// Keeps the shared name when this mapping goes: for a handle that was
// refused its role, whose channel belongs to the live holder.
inline void keep_name(mapping& m) noexcept {
    if (m.remove_on_close != nullptr) *m.remove_on_close = false;
}

} // namespace que::detail
