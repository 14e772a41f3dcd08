// que/detail/mapping.hpp — what a backing hands to a channel handle: a mapped,
// initialised and validated segment, plus the owner that frees it.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <concepts>
#include <cstdint>
#include <memory>
#include <string>

#include "pages.hpp"

namespace que::detail {

// Where a named segment (que::shm) was found: its directory (an O_PATH
// descriptor, so a later look does not depend on the working directory or
// on paths), its name there, and the identity of the file it mapped. Lets a
// handle ask whether the name still leads to its segment (name_state).
struct segment_name {
    int dir_fd = -1;
    std::string name;
    dev_t dev = 0;
    ino_t ino = 0;

    segment_name() = default;
    segment_name(const segment_name&) = delete;
    segment_name& operator=(const segment_name&) = delete;
    ~segment_name() {
        if (dir_fd >= 0) ::close(dir_fd);
    }
};

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
    // The name it was opened by (que::shm); null for unnamed backings (heap,
    // hugepages, memfd), whose segment no name can lead away from.
    std::shared_ptr<const segment_name> named{};
};

// Whether the name a segment was opened by still leads to it.
enum class name_state : std::uint8_t {
    unnamed,   // no name (a private or memfd backing), or it could not be kept
    same,      // the name leads to this segment
    removed,   // nothing at the name any more (shm_remove, remove_on_close)
    replaced,  // another file at the name (a new segment was created under it)
    unknown,   // the look failed for another reason (e.g. EACCES)
};

// One fstatat(2) of the name: a system call, not for the hot path.
inline name_state name_state_of(const mapping& m) noexcept {
    const segment_name* n = m.named.get();
    if (n == nullptr || n->dir_fd < 0) return name_state::unnamed;
    struct stat st {};
    if (::fstatat(n->dir_fd, n->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? name_state::removed : name_state::unknown;
    return st.st_dev == n->dev && st.st_ino == n->ino ? name_state::same : name_state::replaced;
}

// What a named backing records for name_state_of: a copy of the directory
// descriptor (the caller keeps its own) and the file's identity. Null when
// the descriptor cannot be copied (out of descriptors): the segment then
// reads as unnamed, which no caller needs in order to work.
inline std::shared_ptr<const segment_name> name_of_segment(int dir_fd, const std::string& name,
                                                           const struct stat& st) {
    auto n = std::make_shared<segment_name>();
    n->dir_fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    if (n->dir_fd < 0) return {};
    n->name = name;
    n->dev = st.st_dev;
    n->ino = st.st_ino;
    return n;
}

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
