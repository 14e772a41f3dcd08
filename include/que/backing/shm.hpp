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
// process initialises it), takes an OFD write lock on it at once, sizes it,
// maps it, lays out the header and stores state = ready last, with release;
// the lock goes with its descriptor. A joiner opens the existing file
// (O_NOFOLLOW|O_NONBLOCK), fstat()s it before anything else (a regular file,
// an owner it accepts, no mode bit beyond `permissions`), checks its size
// before mapping a byte of it, maps exactly that size, waits (bounded) for
// state == ready with acquire and then checks every header field against its
// own T, N and kind. It never resizes or rewrites a segment. A joiner that
// finds the header not ready and the creator's lock free knows the creator
// died: errc::creator_died, or with `recover_stale` it removes the stale file
// and starts over.
//
// Trust (docs/security.md): anyone who may write the file can corrupt it
// (que then stays in bounds) or truncate it (every mapping of it then dies of
// SIGBUS: nothing in a named segment can prevent that; que::memfd can).
// spmc consumers attach read-only (attach_read_only: O_RDONLY, PROT_READ).
//
// Names: who removes one? Nobody, by default: a segment outlives its
// processes (so a restarted consumer finds its backlog) until
// que::shm_remove(name) or until a handle opened with `remove_on_close`
// goes away. The usual choice is to give remove_on_close to the consumer.
// remove_on_close unlinks only in the process that opened the handle (a
// forked child's inherited copy never does), only if the name still names
// our file (dev, ino compared right before the unlink), and is refused at
// open (errc::cannot_remove) where the unlink could not succeed. A
// destructor cannot report: an unlink that still fails leaves the name, and
// que::shm_remove(where, ec) says why.
#pragma once

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "../detail/describe.hpp"
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
    // so the umask does not change them), and the most a joined segment may
    // grant (more: errc::insecure_permissions). File permission bits only
    // (0777; anything else: errc::invalid_permissions). Owner-only by default:
    // shared memory is a trust boundary.
    mode_t permissions = 0600;
    // standard: a file under /dev/shm. huge_2m / gigantic_1g: a file on a
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
    // Owners a joiner accepts besides its own euid and root (whose segments
    // are always accepted: root can do anything to us anyway). Anyone else's
    // segment is errc::foreign_owner: it may have been planted to feed us
    // forged messages or to read ours.
    std::vector<uid_t> accepted_owners{};
    // For a group-shared setup: also accept any owner when the file's group
    // is this one. Sound where only members can create files of that group
    // (/dev/shm, or a hugetlbfs mount of mode 1770 of that group); pair it
    // with permissions = 0660.
    std::optional<gid_t> accepted_group{};
    // A segment whose creator died before it was ready (errc::creator_died):
    // remove it and, unless mode is `open`, create it anew. In mode `open` the
    // stale file is removed and the join still fails with creator_died.
    bool recover_stale = false;
};

namespace detail {

// Test hook (tests/shm/trust.cpp): called by a creator at each stage of
// initialisation, so a test can kill or stop it there. Null in real use.
enum class creation_stage { locked, sized };
inline void (*creation_hook)(creation_stage) noexcept = nullptr;

// What the mapping's owner must undo when the last handle goes.
struct shm_region {
    void* base = nullptr;
    std::uint64_t bytes = 0;
    bool remove_on_close = false;
    unique_fd dir;       // the directory the name lives in (remove_on_close only)
    std::string name;
    dev_t dev = 0;
    ino_t ino = 0;
    pid_t pid = 0;       // the process that attached: only it may unlink

    ~shm_region() {
        // Before munmap: while we map the file its inode cannot be freed, so
        // its (dev, ino) cannot have been given to a newer file at the name.
        // getpid: a forked child that drops an inherited handle must not
        // remove its parent's channel. The result cannot be reported from a
        // destructor: a failed unlink (someone else's file now, or EPERM)
        // leaves the name, which que::shm_remove(where, ec) then explains.
        if (remove_on_close && pid == ::getpid() && dir) unlink_if_same(dir.get(), name, dev, ino);
        if (base != nullptr) ::munmap(base, bytes);
    }
};

// The creator's half: `fd` is the file we just made with O_EXCL (size 0).
// On failure the caller unlinks the name, so joiners waiting on it see it go.
// `locked` false: someone else holds a lock on our fresh file (a recoverer
// judging a file at this name stale): start over.
inline void* create_segment(int fd, const channel_spec& spec, const shm_options& opt, bool huge,
                            std::uint64_t& bytes, bool& locked, std::error_code& ec) noexcept {
    // The lock first, before the file has a size: a joiner that sees a size
    // and no lock may call us dead (see join_segment).
    locked = lock_file(fd, F_WRLCK);
    if (!locked) return nullptr;
    if (creation_hook != nullptr) creation_hook(creation_stage::locked);
    // Exact permissions: O_CREAT's mode was filtered through the umask.
    if (::fchmod(fd, opt.permissions) != 0) {
        ec = {errno, std::system_category()};
        return nullptr;
    }
    const std::uint64_t page = page_bytes(opt.pages);
    bytes = round_up(spec.segment_size(), page);
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
        const int err = errno;
        ec = huge ? huge_page_error(err)
             : err == ENOSPC || err == ENOMEM ? std::error_code{errc::out_of_memory}
                                              : std::error_code{err, std::system_category()};
        return nullptr;
    }
    if (!huge) {
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
    void* base = map_shared(fd, bytes, false, opt.populate, huge, ec);
    if (base == nullptr) return nullptr;
    if (creation_hook != nullptr) creation_hook(creation_stage::sized);
    // A fresh file reads as zeros, as initialize() requires. `initializing` is
    // only a hint for someone inspecting the segment; joiners wait for ready.
    header_of(base)->state.store(static_cast<std::uint32_t>(init_state::initializing), std::memory_order_relaxed);
    initialize(base, spec, page, static_cast<std::uint32_t>(::getpid()));
    ec.clear();
    return base;
}

// Removes the stale file `stale` (a segment whose creator died) from the
// name, if the name still holds it. The remover takes the write lock on it
// first, so of several processes recovering the same file at once exactly
// one unlinks it; the others fail to lock, start over, and find the new
// segment (a different inode, which unlink_if_same leaves alone).
inline std::error_code remove_stale(const segment_dir& dir, const std::string& name, const struct stat& stale) {
    unique_fd fd(::openat(dir.fd.get(), name.c_str(), O_RDWR | safe_open_flags));
    if (!fd) return errno == ENOENT ? std::error_code{} : open_error(errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return {errno, std::system_category()};
    if (st.st_dev != stale.st_dev || st.st_ino != stale.st_ino) return {};  // already replaced
    if (!lock_file(fd.get(), F_WRLCK)) return {};                          // someone else is at it
    const int err = unlink_if_same(dir.fd.get(), name, stale.st_dev, stale.st_ino);
    if (err == 0 || err == ENOENT || err == ESTALE) return {};
    return err == EPERM || err == EACCES ? std::error_code{errc::cannot_remove} : open_error(err);
}

} // namespace detail

// A named shared-memory backing. `name` is one path component (1-200 bytes, no
// '/', not "." or ".."), optionally after one leading '/' as POSIX shm_open
// names are spelled ("/m3" and "m3" are one channel); processes that use the
// same name (and page size and hugetlbfs directory) share the channel. One
// name is one channel: a name that exists under another page size (in
// /dev/shm or on any hugetlbfs mount) is errc::exists_with_other_pages, never
// a second channel.
struct shm {
    std::string name;
    shm_options options{};

    detail::mapping attach(const detail::channel_spec& spec, std::error_code& ec) const {
        return attach_as(spec, false, ec);
    }
    // For a reader that writes nothing (que::spmc::consumer::open): joins
    // with O_RDONLY and maps PROT_READ. If it has to create the segment, it
    // does so read-write, then drops write access to its mapping (mprotect).
    detail::mapping attach_read_only(const detail::channel_spec& spec, std::error_code& ec) const {
        return attach_as(spec, true, ec);
    }

    // For the text of a setup error (detail/describe.hpp), only after a
    // failure: how to name this channel, the first `n` bytes of its file
    // (header and blocks; false when there is no file to read), and where
    // que looked and what it found there for errors about the name itself.
    std::string describe() const { return "\"" + name + "\""; }
    bool read_prefix(void* buf, std::size_t n) const noexcept {
        const std::string leaf(detail::shm_leaf(name));
        detail::segment_dir dir;
        if (!detail::valid_shm_name(leaf) || detail::open_segment_dir(options.pages, options.hugetlbfs_dir, dir))
            return false;
        detail::unique_fd fd(::openat(dir.fd.get(), leaf.c_str(), O_RDONLY | detail::safe_open_flags));
        struct stat st {};
        if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
        return ::pread(fd.get(), buf, n, 0) == static_cast<ssize_t>(n);
    }
    std::string explain(std::error_code ec) const {
        const std::string leaf(detail::shm_leaf(name));
        const std::string dir = options.pages == page_size::standard ? std::string(detail::shm_dir)
                                : options.hugetlbfs_dir.empty()
                                    ? std::string(detail::default_hugetlbfs_dir(options.pages))
                                    : options.hugetlbfs_dir;
        const std::string here = dir + "/" + leaf + " (" + detail::page_name(detail::page_bytes(options.pages)) + ")";
        if (ec == errc::invalid_name)
            return "\"" + name + "\" is not a name: give one path component of 1-200 bytes (a leading '/' is "
                   "allowed and ignored: \"/m3\" is \"m3\"; no other '/', no NUL, not \".\" or \"..\")";
        if (ec == errc::exists_with_other_pages) {
            detail::segment_dir d;
            detail::segment_location other;
            if (detail::valid_shm_name(leaf) && !detail::open_segment_dir(options.pages, options.hugetlbfs_dir, d) &&
                detail::exists_elsewhere(leaf, d.fd.get(), &other))
                return "it exists as " + other.dir + "/" + leaf + " (" + detail::page_name(other.page) +
                       "), this handle asked for " + here +
                       ": give both sides the same shm_options::pages (and hugetlbfs_dir), or remove the other one "
                       "(que::shm_remove, que-inspect --list)";
            return "this handle asked for " + here + "; the other one is gone now, try again";
        }
        if (ec == errc::not_found)
            return "no segment at " + here +
                   ": open_mode::open only joins; start the creating side first, or use open_mode::open_or_create";
        if (ec == errc::already_exists)
            return here + " exists: open_mode::create only creates; remove it (que::shm_remove) or join it "
                          "(open_mode::open_or_create)";
        if (ec == errc::hugetlbfs_not_mounted)
            return "no hugetlbfs of " + detail::page_name(detail::page_bytes(options.pages)) + " at " + dir +
                   ": mount one there (scripts/mount_huge_and_gigantic.sh) or set shm_options::hugetlbfs_dir";
        return "at " + here;
    }

private:
    detail::mapping attach_as(const detail::channel_spec& spec, bool read_only, std::error_code& ec) const {
        if ((options.permissions & ~mode_t{0777}) != 0) {
            ec = errc::invalid_permissions;
            return {};
        }
        const std::string leaf(detail::shm_leaf(name));  // "/m3" is "m3"
        if (!detail::valid_shm_name(leaf)) {
            ec = errc::invalid_name;
            return {};
        }
        detail::segment_dir dir;
        if ((ec = detail::open_segment_dir(options.pages, options.hugetlbfs_dir, dir))) return {};
        const detail::file_policy policy{options.permissions, &options.accepted_owners, options.accepted_group};
        const bool huge = dir.huge;
        const int dfd = dir.fd.get();
        detail::setup_backoff backoff(options.join_timeout);
        // Whether joining may end in creating: mode `create` joins nothing,
        // but with recover_stale it looks at what holds the name.
        const bool may_create = options.mode != open_mode::open;

        for (;;) {
            detail::unique_fd fd;
            bool created = false;
            struct stat st {};
            if (may_create) {
                const int made = ::openat(dfd, leaf.c_str(), O_RDWR | O_CREAT | O_EXCL | detail::safe_open_flags,
                                          options.permissions);
                const int err = errno;
                if (made >= 0) {
                    fd.reset(made);
                    created = true;
                    // One name, one channel: if the name exists under another
                    // page size (another location), take ours back and fail.
                    // Race-free in the sense that two creators in different
                    // locations never both succeed: each creates (O_EXCL)
                    // before it looks at the other locations, and file system
                    // operations are ordered, so whichever of the two looks
                    // last looks after both creates and sees the other's file
                    // (both may fail, if each sees the other before it is
                    // taken back: then a retry finds the name free). A
                    // joiner of our size-0 file meanwhile waits, as for any
                    // creator that has not sized its file yet.
                    if (detail::exists_elsewhere(leaf, dfd)) {
                        if (::fstat(fd.get(), &st) == 0) detail::unlink_if_same(dfd, leaf, st.st_dev, st.st_ino);
                        ec = errc::exists_with_other_pages;
                        return {};
                    }
                } else if (err != EEXIST || (options.mode == open_mode::create && !options.recover_stale)) {
                    ec = detail::open_error(err);
                    return {};
                }
            }
            if (!created) {
                fd.reset(::openat(dfd, leaf.c_str(), (read_only ? O_RDONLY : O_RDWR) | detail::safe_open_flags));
                const int err = errno;
                if (!fd) {
                    // open_or_create: the segment we saw a moment ago was
                    // removed; try to create it again (bounded by the timeout).
                    if (err == ENOENT && may_create) {
                        if (!backoff.wait()) {
                            ec = errc::not_ready;
                            return {};
                        }
                        continue;
                    }
                    ec = detail::open_error(err);
                    // Not here, but perhaps under another page size: say so.
                    if (ec == errc::not_found && detail::exists_elsewhere(leaf, dfd)) ec = errc::exists_with_other_pages;
                    return {};
                }
                // What it is, whose, how open: before reading a byte of it.
                if (::fstat(fd.get(), &st) != 0) {
                    ec = {errno, std::system_category()};
                    return {};
                }
                if ((ec = detail::check_file(st, policy))) return {};
                if (huge && (ec = detail::check_hugetlbfs(fd.get(), options.pages))) return {};
            }

            void* base = nullptr;
            std::uint64_t bytes = 0;
            if (created) {
                bool locked = true;
                base = detail::create_segment(fd.get(), spec, options, huge, bytes, locked, ec);
                if (base == nullptr) {
                    // Nobody can use a half-made segment: take the name back
                    // (only ours: fstat says which file that is).
                    if (::fstat(fd.get(), &st) == 0) detail::unlink_if_same(dfd, leaf, st.st_dev, st.st_ino);
                    if (!locked) {
                        if (!backoff.wait()) {
                            ec = errc::not_ready;
                            return {};
                        }
                        continue;
                    }
                    return {};
                }
                if (read_only && ::mprotect(base, bytes, PROT_READ) != 0) {
                    ec = {errno, std::system_category()};
                    ::munmap(base, bytes);
                    return {};
                }
                if (::fstat(fd.get(), &st) != 0) st = {};
            } else {
                const detail::join_params jp{detail::page_bytes(options.pages), read_only, options.populate, huge,
                                             true, may_create};
                detail::join_result r = detail::join_segment(fd.get(), spec, jp, backoff, base, bytes, ec);
                if (r == detail::join_result::retry_create) continue;
                if (r == detail::join_result::stale && options.recover_stale) {
                    if (std::error_code rec = detail::remove_stale(dir, leaf, st)) {
                        ec = rec;
                        return {};
                    }
                    if (options.mode == open_mode::open) return {};  // ec: creator_died
                    continue;
                }
                if (!ec && options.mode == open_mode::create) {
                    // Only here to recover a stale file, and this one is live.
                    ::munmap(base, bytes);
                    ec = errc::already_exists;
                }
                if (ec) return {};
            }

            auto region = std::make_shared<detail::shm_region>();
            region->base = base;
            region->bytes = bytes;
            if (options.remove_on_close) {
                if (!detail::may_unlink(dfd, st)) {
                    ec = errc::cannot_remove;
                    return {};  // region unmaps
                }
                region->remove_on_close = true;
                region->dir = std::move(dir.fd);
                region->name = leaf;
                region->dev = st.st_dev;
                region->ino = st.st_ino;
                region->pid = ::getpid();
            }
            ec.clear();
            // The fd closes here (dropping a creator's lock: state is ready);
            // the mapping keeps the segment alive.
            bool* remove_flag = &region->remove_on_close;
            detail::mapping m{base,    bytes, options.pages, false, created, std::shared_ptr<void>(region, base),
                              remove_flag, read_only};
            if (st.st_ino != 0) m.named = detail::name_of_segment(dfd, name, st);  // for name_state_of (spmc replaced())
            return m;
        }
    }
};

// Removes the segment `where` names (its page size and hugetlbfs directory
// say where the file lives), without creating anything. Processes that have it
// mapped keep using it; the name is free for a new segment at once. Returns
// whether a segment was removed: false (and no error) when there was none.
// errc::permission_denied when we may not (another user's file in sticky
// /dev/shm): this is how to learn why a remove_on_close left the name.
// It removes whatever non-directory is at the name (a FIFO or symlink planted
// there too), never following a symlink; a directory is not_a_regular_file.
inline bool shm_remove(const shm& where, std::error_code& ec) {
    const std::string leaf(detail::shm_leaf(where.name));  // "/m3" is "m3"
    if (!detail::valid_shm_name(leaf)) {
        ec = errc::invalid_name;
        return false;
    }
    detail::segment_dir dir;
    if ((ec = detail::open_segment_dir(where.options.pages, where.options.hugetlbfs_dir, dir))) return false;
    if (::unlinkat(dir.fd.get(), leaf.c_str(), 0) == 0) return true;
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
