// que/backing/shm.hpp — a channel in POSIX shared memory, joined by name by
// independent processes; on standard pages (/dev/shm) or on huge pages (a file
// on a hugetlbfs mount).
//
//   auto tx = que::spsc::producer<Msg, 4096>::open(que::shm{"orders"});            // process A
//   auto rx = que::spsc::consumer<Msg, 4096>::open(que::shm{"orders"});            // process B
//   que::shm{"orders", {.pages = que::page_size::huge_2m}}                         // on hugetlbfs
//
// Either side may come first. The protocol (docs/format.md, "Creation and
// joining"): the creator makes the file with O_CREAT|O_EXCL (so exactly one
// process initialises it), sizes it, maps it, lays out the header and stores
// state = ready last, with release. A joiner opens the existing file, checks
// its size with fstat before mapping a byte of it, maps exactly that size,
// waits (bounded) for state == ready with acquire and then checks every header
// field against its own T, N and kind. It never resizes or rewrites a segment.
//
// Names: who removes one? Nobody, by default: a segment outlives its
// processes (so a restarted consumer finds its backlog) until
// que::shm_remove(name) or until a handle opened with `remove_on_close`
// goes away. The usual choice is to give remove_on_close to the consumer.
#pragma once

#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "../detail/element.hpp"
#include "../detail/layout.hpp"
#include "../detail/mapping.hpp"
#include "../detail/pages.hpp"
#include "../detail/shm_file.hpp"

namespace que {

enum class open_mode : std::uint8_t {
    create,          // create the name; errc::already_exists if it is taken
    open,            // join an existing segment; errc::not_found if there is none
    open_or_create,  // join if it exists, else create (race-free: one process creates)
};

struct shm_options {
    open_mode mode = open_mode::open_or_create;
    // Mode bits of a created segment, applied exactly (fchmod after creation,
    // so the umask does not change them). Owner-only by default: shared memory
    // is a trust boundary.
    mode_t permissions = 0600;
    // standard: shm_open under /dev/shm. huge_2m / gigantic_1g: a file on a
    // hugetlbfs mount of that page size (see hugetlbfs_dir).
    page_size pages = page_size::standard;
    // The hugetlbfs mount for huge pages; empty means que::default_hugetlbfs_dir_2m
    // ("/mnt/que-huge-2m") or ..._1g ("/mnt/que-huge-1g"), where
    // scripts/mount_huge_and_gigantic.sh mounts them. Ignored for standard pages.
    std::string hugetlbfs_dir{};
    // Fault every page in at attach (MAP_POPULATE) so the first messages do
    // not page-fault.
    bool populate = true;
    // Unlink the name when the last handle of this process using this
    // mapping goes away (only if the name still refers to our segment).
    bool remove_on_close = false;
    // How long a joiner waits for the creator to size and initialise the
    // segment before errc::not_ready.
    std::chrono::milliseconds join_timeout{2000};
};

namespace detail {

// Resolves where `name` lives for `opt`; checks the name and, for huge pages,
// that the directory is a hugetlbfs mount of the right page size.
inline std::error_code resolve_shm_path(std::string_view name, const shm_options& opt, shm_path& out) {
    if (!valid_shm_name(name)) return errc::invalid_name;
    if (opt.pages == page_size::standard) {
        out.huge = false;
        out.path.clear();
        out.path.reserve(name.size() + 1);
        out.path.push_back('/');
        out.path.append(name.data(), name.size());
        return {};
    }
    std::string dir = opt.hugetlbfs_dir.empty() ? std::string(default_hugetlbfs_dir(opt.pages)) : opt.hugetlbfs_dir;
    if (std::error_code ec = check_hugetlbfs(dir, opt.pages)) return ec;
    out.huge = true;
    out.path = std::move(dir);
    if (out.path.back() != '/') out.path.push_back('/');
    out.path.append(name);
    return {};
}

// Waits used while a joiner waits for the creator (setup only, bounded by
// join_timeout): a few yields for the common case of a creator that is a few
// microseconds behind, then short sleeps so a slow creator on a busy machine
// is not starved by our spinning.
class setup_backoff {
public:
    explicit setup_backoff(std::chrono::milliseconds timeout)
        : deadline_(std::chrono::steady_clock::now() + timeout) {}
    // False once the deadline passed; otherwise waits a little and returns true.
    bool wait() {
        if (std::chrono::steady_clock::now() >= deadline_) return false;
        if (++rounds_ < 64) {
            ::sched_yield();
        } else {
            std::this_thread::sleep_for(std::chrono::microseconds(rounds_ < 256 ? 50 : 500));
        }
        return true;
    }

private:
    std::chrono::steady_clock::time_point deadline_;
    unsigned rounds_ = 0;
};

// What the mapping's owner must undo when the last handle goes.
struct shm_region {
    void* base = nullptr;
    std::uint64_t bytes = 0;
    bool remove_on_close = false;
    shm_path path;
    dev_t dev = 0;
    ino_t ino = 0;

    ~shm_region() {
        if (base != nullptr) ::munmap(base, bytes);
        if (!remove_on_close) return;
        // Unlink only if the name still names our segment: someone may have
        // removed it and created a new channel under the same name since.
        detail::unique_fd fd(path.open(O_RDONLY, 0));
        struct stat st {};
        if (fd && ::fstat(fd.get(), &st) == 0 && st.st_dev == dev && st.st_ino == ino) path.unlink();
    }
};

inline int map_flags(bool populate) noexcept { return MAP_SHARED | (populate ? MAP_POPULATE : 0); }

inline void* map_shared(int fd, std::uint64_t bytes, const shm_options& opt, std::error_code& ec,
                        bool populate) noexcept {
    void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, map_flags(populate), fd, 0);
    if (m == MAP_FAILED) {
        const int err = errno;
        if (opt.pages != page_size::standard) ec = huge_page_error(err);
        else if (err == ENOMEM) ec = errc::out_of_memory;
        else ec = {err, std::system_category()};
        return nullptr;
    }
    return m;
}

// The creator's half: `fd` is the file we just made with O_EXCL (size 0).
// On failure the caller unlinks the name, so joiners waiting on it see it go.
inline void* create_segment(int fd, const channel_spec& spec, const shm_options& opt, std::uint64_t& bytes,
                            std::error_code& ec) noexcept {
    // Exact permissions: O_CREAT's mode was filtered through the umask.
    if (::fchmod(fd, opt.permissions) != 0) {
        ec = {errno, std::system_category()};
        return nullptr;
    }
    const std::uint64_t page = page_bytes(opt.pages);
    bytes = round_up(spec.segment_size(), page);
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
        const int err = errno;
        ec = opt.pages != page_size::standard ? huge_page_error(err)
             : err == ENOSPC || err == ENOMEM ? std::error_code{errc::out_of_memory}
                                              : std::error_code{err, std::system_category()};
        return nullptr;
    }
    if (opt.pages == page_size::standard) {
        // tmpfs files are sparse: reserve the memory now, so a full /dev/shm
        // is an error here rather than a SIGBUS on some later push.
        if (int err = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes)); err != 0) {
            ec = err == ENOSPC || err == ENOMEM ? std::error_code{errc::out_of_memory}
                                                : std::error_code{err, std::system_category()};
            return nullptr;
        }
    }
    // On hugetlbfs a MAP_SHARED mapping reserves its huge pages here, so an
    // empty pool is ENOMEM now (→ errc::no_huge_pages), never a later SIGBUS.
    void* base = map_shared(fd, bytes, opt, ec, opt.populate);
    if (base == nullptr) return nullptr;
    // A fresh file reads as zeros, as initialize() requires. `initializing` is
    // only a hint for someone inspecting the segment; joiners wait for ready.
    header_of(base)->state.store(static_cast<std::uint32_t>(init_state::initializing), std::memory_order_relaxed);
    initialize(base, spec, page, static_cast<std::uint32_t>(::getpid()));
    ec.clear();
    return base;
}

enum class join_result { joined, retry_create };

// The joiner's half: `fd` is an existing segment opened O_RDWR.
inline join_result join_segment(int fd, const channel_spec& spec, const shm_options& opt, setup_backoff& backoff,
                                void*& base, std::uint64_t& bytes, std::error_code& ec) noexcept {
    // Size first, before mapping anything: a mapping larger than the file
    // would SIGBUS on access, and a smaller one could not hold the header.
    struct stat st {};
    for (;;) {
        if (::fstat(fd, &st) != 0) {
            ec = {errno, std::system_category()};
            return join_result::joined;
        }
        if (st.st_size != 0) break;
        // Size 0: the creator has not ftruncated yet, or it failed and
        // unlinked the name (no links left): then start over.
        if (st.st_nlink == 0 && opt.mode == open_mode::open_or_create) return join_result::retry_create;
        if (st.st_nlink == 0) {
            ec = errc::not_found;
            return join_result::joined;
        }
        if (!backoff.wait()) {
            ec = errc::not_ready;
            return join_result::joined;
        }
    }
    bytes = static_cast<std::uint64_t>(st.st_size);
    if (bytes < sizeof(header)) {
        ec = errc::truncated_segment;
        return join_result::joined;
    }
    // Not populated yet: the size is not validated, and faulting in a file
    // some peer made huge would cost that much memory.
    void* m = map_shared(fd, bytes, opt, ec, false);
    if (m == nullptr) return join_result::joined;

    // Only `state` is read until it says ready: the other header fields are
    // plain data the creator may still be writing. Its release store of ready
    // pairs with this acquire load, making the whole header visible.
    const auto& state = header_of(m)->state;
    for (;;) {
        const std::uint32_t s = state.load(std::memory_order_acquire);
        if (s == static_cast<std::uint32_t>(init_state::ready)) break;
        if (s > static_cast<std::uint32_t>(init_state::ready) || !backoff.wait()) {
            // No creator ever writes a state above ready: this is not a que
            // segment. 0 or 1 past the deadline: the creator died or is stuck.
            ec = s > static_cast<std::uint32_t>(init_state::ready) ? errc::bad_magic : errc::not_ready;
            ::munmap(m, bytes);
            return join_result::joined;
        }
    }
    ec = validate(m, bytes, spec);
    // The page size it was made with must be the one we asked for (it is a
    // property of where the file lives, so a mismatch means a forged header),
    // and the file exactly what a creator makes of segment_size: no larger.
    const std::uint64_t page = page_bytes(opt.pages);
    if (!ec && (header_of(m)->page_size != page || bytes != round_up(header_of(m)->segment_size, page)))
        ec = errc::corrupt_segment;
    if (!ec && opt.populate) {
        // Now that the size is known to be sane, map it again, faulted in.
        ::munmap(m, bytes);
        m = map_shared(fd, bytes, opt, ec, true);
    }
    if (ec) {
        if (m != nullptr) ::munmap(m, bytes);
        return join_result::joined;
    }
    base = m;
    return join_result::joined;
}

} // namespace detail

// A named shared-memory backing. `name` is one path component (1-200 bytes, no
// '/', not "." or ".."); processes that use the same name (and page size and
// hugetlbfs directory) share the channel.
struct shm {
    std::string name;
    shm_options options{};

    detail::mapping attach(const detail::channel_spec& spec, std::error_code& ec) const {
        detail::shm_path path;
        if ((ec = detail::resolve_shm_path(name, options, path))) return {};
        detail::setup_backoff backoff(options.join_timeout);

        for (;;) {
            detail::unique_fd fd;
            bool created = false;
            if (options.mode != open_mode::open) {
                const int made = path.open(O_RDWR | O_CREAT | O_EXCL, options.permissions);
                const int err = errno;
                if (made >= 0) {
                    fd.reset(made);
                    created = true;
                } else if (err != EEXIST || options.mode == open_mode::create) {
                    ec = detail::open_error(err);
                    return {};
                }
            }
            if (!created) {
                const int opened = path.open(O_RDWR, 0);
                const int err = errno;
                fd.reset(opened);
                if (!fd) {
                    // open_or_create: the segment we saw a moment ago was
                    // removed; try to create it again (bounded by the timeout).
                    if (err == ENOENT && options.mode == open_mode::open_or_create) {
                        if (!backoff.wait()) {
                            ec = errc::not_ready;
                            return {};
                        }
                        continue;
                    }
                    ec = detail::open_error(err);
                    return {};
                }
            }

            void* base = nullptr;
            std::uint64_t bytes = 0;
            if (created) {
                base = detail::create_segment(fd.get(), spec, options, bytes, ec);
                if (base == nullptr) {
                    // Nobody can use a half-made segment: take the name back.
                    path.unlink();
                    return {};
                }
            } else if (detail::join_segment(fd.get(), spec, options, backoff, base, bytes, ec) ==
                       detail::join_result::retry_create) {
                continue;
            } else if (ec) {
                return {};
            }

            auto region = std::make_shared<detail::shm_region>();
            region->base = base;
            region->bytes = bytes;
            if (options.remove_on_close) {
                struct stat st {};
                if (::fstat(fd.get(), &st) == 0) {
                    region->remove_on_close = true;
                    region->path = path;
                    region->dev = st.st_dev;
                    region->ino = st.st_ino;
                }
            }
            ec.clear();
            // The fd closes here; the mapping keeps the segment alive.
            bool* remove_flag = &region->remove_on_close;
            return {base, bytes, options.pages, false, created, std::shared_ptr<void>(region, base), remove_flag};
        }
    }
};

// Removes the segment `where` names (its page size and hugetlbfs directory
// say where the file lives), without creating anything. Processes that have it
// mapped keep using it; the name is free for a new segment at once. Returns
// whether a segment was removed: false (and no error) when there was none.
inline bool shm_remove(const shm& where, std::error_code& ec) {
    detail::shm_path path;
    if ((ec = detail::resolve_shm_path(where.name, where.options, path))) return false;
    if (path.unlink() == 0) return true;
    if (errno == ENOENT) return false;
    ec = detail::open_error(errno);
    return false;
}
inline bool shm_remove(const shm& where) {
    return detail::throw_on_error("que::shm_remove", [&](std::error_code& ec) { return shm_remove(where, ec); });
}

// The same by name: a segment on standard pages (/dev/shm), or, with `pages`,
// on the default hugetlbfs mount of that page size.
inline bool shm_remove(std::string_view name, page_size pages, std::error_code& ec) {
    return shm_remove(shm{std::string(name), {.pages = pages}}, ec);
}
inline bool shm_remove(std::string_view name, std::error_code& ec) {
    return shm_remove(name, page_size::standard, ec);
}
inline bool shm_remove(std::string_view name, page_size pages = page_size::standard) {
    return shm_remove(shm{std::string(name), {.pages = pages}});
}

} // namespace que
