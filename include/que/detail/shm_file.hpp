// que/detail/shm_file.hpp — the file-system side of a shared segment: names,
// directories, what a joiner checks about the file it opened, the creator's
// lock, mapping, and the join protocol every file-backed backing shares.
//
// A segment is one file: `/dev/shm/<name>` on standard pages, or
// `<hugetlbfs dir>/<name>` on a hugetlbfs mount for huge pages, or an
// anonymous memfd handed over as a file descriptor (backing/memfd.hpp).
// Everything here runs at setup time only. docs/security.md says what each
// check defends against; docs/format.md ("Creation and joining") is the
// protocol.
//
// Trust rules applied here (a shared file is a trust boundary):
//  - files are opened relative to a directory fd, with O_NOFOLLOW (a symlink
//    at the name is refused, not followed) and O_NONBLOCK (a FIFO planted at
//    the name cannot block the open), and fstat()ed before anything else:
//    only a regular file is used (errc::not_a_regular_file);
//  - a joined file's owner must be one the caller accepts (errc::foreign_owner)
//    and its mode must grant no bit beyond what the caller asked for
//    (errc::insecure_permissions);
//  - hugetlbfs is checked with fstatfs on the opened directory and file, not
//    by path (no window for a swapped mount);
//  - the creator holds an OFD write lock on the file from right after it
//    created it until the header is ready, so a joiner that finds the lock
//    free and the header not ready knows the creator died.
#pragma once

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <sched.h>

#include "../errc.hpp"
#include "layout.hpp"
#include "pages.hpp"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

namespace que {

// Where scripts/mount_huge_and_gigantic.sh mounts hugetlbfs, and so where a
// que::shm on huge pages looks when shm_options::hugetlbfs_dir is empty.
inline constexpr std::string_view default_hugetlbfs_dir_2m = "/mnt/que-huge-2m";
inline constexpr std::string_view default_hugetlbfs_dir_1g = "/mnt/que-huge-1g";

// The longest accepted segment name. POSIX allows NAME_MAX (255) for the
// shm_open name; 200 leaves room for prefixes a user may add and is plenty.
inline constexpr std::size_t max_shm_name = 200;

namespace detail {

// Where glibc's shm_open puts its objects on Linux. que opens the files in it
// itself (openat on a directory fd) rather than through shm_open, which turns
// EISDIR into EINVAL and cannot be given a directory to stay in.
inline constexpr std::string_view shm_dir = "/dev/shm";

// A name is one path component: 1..200 bytes, no '/', no NUL, not "." or "..".
// Anything else could escape the directory or collide with the directory itself.
inline bool valid_shm_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > max_shm_name) return false;
    if (name == "." || name == "..") return false;
    for (char c : name)
        if (c == '/' || c == '\0') return false;
    return true;
}

// The name as a path component: one leading '/' (POSIX shm_open style,
// "/m3") is accepted and ignored, so "/m3" and "m3" are one channel.
// valid_shm_name then checks what is left.
inline std::string_view shm_leaf(std::string_view name) noexcept {
    return !name.empty() && name.front() == '/' ? name.substr(1) : name;
}

inline std::string_view default_hugetlbfs_dir(page_size p) noexcept {
    return p == page_size::gigantic_1g ? default_hugetlbfs_dir_1g : default_hugetlbfs_dir_2m;
}

// Flags every open of a segment file carries: no symlink followed, no FIFO
// waited on, nothing leaked into an exec'd program.
inline constexpr int safe_open_flags = O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;

// Is the open file `fd` on a hugetlbfs whose page size is that of `p`? A plain
// directory (tmpfs, ext4) would silently give standard pages, and a mount of
// the other huge size a different layout of memory than asked for, so both
// are refused rather than used. fstatfs on the descriptor: what we opened is
// what we checked.
inline std::error_code check_hugetlbfs(int fd, page_size p) noexcept {
    struct statfs fs {};
    if (::fstatfs(fd, &fs) != 0) return {errno, std::system_category()};
    if (static_cast<std::uint64_t>(fs.f_type) != static_cast<std::uint64_t>(HUGETLBFS_MAGIC))
        return errc::hugetlbfs_not_mounted;
    if (static_cast<std::uint64_t>(fs.f_bsize) != page_bytes(p)) return errc::hugetlbfs_not_mounted;
    return {};
}

// errno of an open/unlink → the error a user can act on.
inline std::error_code open_error(int err) noexcept {
    switch (err) {
    case EACCES:
    case EPERM: return errc::permission_denied;
    case ENOENT: return errc::not_found;
    case EEXIST: return errc::already_exists;
    case ENAMETOOLONG:
    case EINVAL: return errc::invalid_name;
    // O_NOFOLLOW on a symlink, O_RDWR on a directory, a socket (or a device
    // without a driver): something other than a segment sits at the name.
    case ELOOP:
    case EISDIR:
    case ENXIO:
    case ENODEV: return errc::not_a_regular_file;
    default: return {err, std::system_category()};
    }
}

// One segment's file by path (que-inspect's way in). "/<name>" under
// /dev/shm, or "<dir>/<name>" on hugetlbfs.
struct shm_path {
    bool huge = false;
    std::string path;

    std::string full() const { return huge ? path : std::string(shm_dir) + path; }
    int open(int flags, mode_t mode) const noexcept { return ::open(full().c_str(), flags | safe_open_flags, mode); }
    int unlink() const noexcept { return ::unlink(full().c_str()); }
};

// Owns a file descriptor.
class unique_fd {
public:
    explicit unique_fd(int fd = -1) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        reset(std::exchange(o.fd_, -1));
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    int release() noexcept { return std::exchange(fd_, -1); }
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

// The directory a named segment lives in, held open (O_PATH) so that every
// later step (create, open, the stale check, remove_on_close's unlink) acts
// in the directory that was checked, whatever happens to its path.
struct segment_dir {
    unique_fd fd;
    bool huge = false;
};

inline std::error_code open_segment_dir(page_size pages, const std::string& hugetlbfs_dir, segment_dir& out) {
    out.huge = pages != page_size::standard;
    std::string dir = !out.huge ? std::string(shm_dir)
                      : hugetlbfs_dir.empty() ? std::string(default_hugetlbfs_dir(pages))
                                              : hugetlbfs_dir;
    out.fd.reset(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!out.fd) {
        const int err = errno;
        if (err == EACCES) return errc::permission_denied;
        return out.huge ? std::error_code{errc::hugetlbfs_not_mounted} : std::error_code{err, std::system_category()};
    }
    if (out.huge) return check_hugetlbfs(out.fd.get(), pages);
    return {};
}

// Who a joiner accepts as the owner of a segment, and how open it may be.
struct file_policy {
    mode_t permissions = 0600;                 // no mode bit beyond these
    const std::vector<uid_t>* owners = nullptr;  // besides our euid and root
    std::optional<gid_t> group{};              // any owner, if the file has this group
};

// Checks an opened file against `policy`, in the order a user fixes them:
// what it is, whose it is, how open it is.
inline std::error_code check_file(const struct stat& st, const file_policy& policy) noexcept {
    if (!S_ISREG(st.st_mode)) return errc::not_a_regular_file;
    const uid_t me = ::geteuid();
    bool owner_ok = st.st_uid == me || st.st_uid == 0;
    if (!owner_ok && policy.owners != nullptr)
        owner_ok = std::find(policy.owners->begin(), policy.owners->end(), st.st_uid) != policy.owners->end();
    if (!owner_ok && policy.group) owner_ok = st.st_gid == *policy.group;
    if (!owner_ok) return errc::foreign_owner;
    if ((st.st_mode & 07777 & ~policy.permissions) != 0) return errc::insecure_permissions;
    return {};
}

// The creator's lock: an open-file-description lock (F_OFD_*) over the whole
// file. OFD locks belong to the open file, not the process, so a thread of
// the creator's process that opens the file again does not see it as its own
// (a classic POSIX lock would), and the kernel drops it when the creator's
// descriptor closes, i.e. when it dies.
inline bool lock_file(int fd, short type) noexcept {
    struct flock fl {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    return ::fcntl(fd, F_OFD_SETLK, &fl) == 0;
}

// Does someone hold a write lock on the file (a creator still initialising)?
// Only tests (F_OFD_GETLK): a joiner never takes the lock, so it can never
// make a live creator's lock fail.
inline bool write_locked(int fd) noexcept {
    struct flock fl {};
    fl.l_type = F_RDLCK;  // conflicts exactly with a write lock
    fl.l_whence = SEEK_SET;
    if (::fcntl(fd, F_OFD_GETLK, &fl) != 0) return true;  // cannot tell: assume alive (never a false verdict)
    return fl.l_type != F_UNLCK;
}

// Do we hold CAP_FOWNER (which lets us unlink another user's file in a sticky
// directory)? capget, so no libcap is needed.
inline bool have_cap_fowner() noexcept {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capget, &hdr, data) != 0) return false;
    return (data[CAP_FOWNER / 32].effective & (1u << (CAP_FOWNER % 32))) != 0;
}

// Could this process unlink the file `st` from the directory `dir_fd`? The
// kernel's rule (may_delete): write and search permission on the directory,
// and in a sticky directory (/dev/shm, a 1770 hugetlbfs mount) being the
// file's owner, the directory's owner, or holding CAP_FOWNER.
inline bool may_unlink(int dir_fd, const struct stat& st) noexcept {
    struct stat dir {};
    if (::fstat(dir_fd, &dir) != 0) return false;
    if (::faccessat(dir_fd, ".", W_OK | X_OK, AT_EACCESS) != 0) return false;
    if ((dir.st_mode & S_ISVTX) == 0) return true;
    const uid_t me = ::geteuid();
    return st.st_uid == me || dir.st_uid == me || have_cap_fowner();
}

// Unlinks `name` in `dir_fd` only if it still names the file (dev, ino): the
// narrowest check the kernel allows (there is no "unlink if this inode"), made
// right before the unlink. lstat-like (AT_SYMLINK_NOFOLLOW) and no open, so
// nothing planted at the name can block it. Returns 0, or the errno.
inline int unlink_if_same(int dir_fd, const std::string& name, dev_t dev, ino_t ino) noexcept {
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
    if (st.st_dev != dev || st.st_ino != ino) return ESTALE;  // someone else's file now: leave it
    return ::unlinkat(dir_fd, name.c_str(), 0) == 0 ? 0 : errno;
}

inline int map_flags(bool populate) noexcept { return MAP_SHARED | (populate ? MAP_POPULATE : 0); }

// A shared mapping of `bytes` of `fd`: read-write, or read-only for a reader
// that writes nothing (spmc consumers): then not even a bug of ours can
// store into the segment.
inline void* map_shared(int fd, std::uint64_t bytes, bool read_only, bool populate, bool huge,
                        std::error_code& ec) noexcept {
    const int prot = read_only ? PROT_READ : PROT_READ | PROT_WRITE;
    void* m = ::mmap(nullptr, bytes, prot, map_flags(populate), fd, 0);
    if (m == MAP_FAILED) {
        const int err = errno;
        if (huge) ec = huge_page_error(err);
        else if (err == ENOMEM) ec = errc::out_of_memory;
        else ec = {err, std::system_category()};
        return nullptr;
    }
    return m;
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

// How a joiner treats the file it opened.
struct join_params {
    std::uint64_t page = 0;      // the backing's page size in bytes
    bool read_only = false;      // map PROT_READ (the fd may be O_RDONLY)
    bool populate = true;
    bool huge = false;
    bool creator_lock = true;    // a creator may still be at work and holds the lock meanwhile (shm);
                                 // false: the segment was complete before we got it (memfd)
    bool may_recreate = false;   // a vanished file (no links left) means "create it again"
};

enum class join_result {
    joined,        // base/bytes set, or ec set
    retry_create,  // the file lost its name (a creator gave up): start over
    stale,         // its creator died before it was ready: ec == errc::creator_died
};

// The joiner's half of the protocol, for an existing file `fd` whose type,
// owner and mode were checked: waits (bounded) for the creator, maps, checks
// every header field. Size before mapping: a mapping larger than the file
// would SIGBUS on access, and a smaller one could not hold the header.
inline join_result join_segment(int fd, const channel_spec& spec, const join_params& p, setup_backoff& backoff,
                                void*& base, std::uint64_t& bytes, std::error_code& ec) noexcept {
    void* m = nullptr;
    bytes = 0;
    auto fail = [&](std::error_code e, join_result r = join_result::joined) {
        if (m != nullptr) ::munmap(m, bytes);
        ec = e;
        return r;
    };
    // A file that lost its name: a creator gave up (it unlinks before its
    // close drops the lock), or someone removed it.
    auto gone = [&](const struct stat& st) { return st.st_nlink == 0 && p.creator_lock; };
    auto gone_result = [&] { return p.may_recreate ? fail({}, join_result::retry_create) : fail(errc::not_found); };
    for (;;) {
        struct stat st {};
        if (::fstat(fd, &st) != 0) return fail({errno, std::system_category()});
        if (gone(st)) return gone_result();
        const auto size = static_cast<std::uint64_t>(st.st_size);
        if (size != 0) {
            if (m != nullptr && size != bytes) {  // resized since we mapped it: no creator does that
                ::munmap(m, bytes);
                m = nullptr;
            }
            if (m == nullptr) {
                if (size < sizeof(header)) return fail(errc::truncated_segment);
                // Not populated yet: the size is not validated, and faulting
                // in a file some peer made huge would cost that much memory.
                std::error_code mec;
                m = map_shared(fd, size, p.read_only, false, p.huge, mec);
                if (m == nullptr) return fail(mec);
                bytes = size;
            }
            // Only `state` is read until it says ready: the other header
            // fields are plain data the creator may still be writing. Its
            // release store of ready pairs with this acquire load.
            const auto& state = header_of(m)->state;
            std::uint32_t s = state.load(std::memory_order_acquire);
            if (s == static_cast<std::uint32_t>(init_state::ready)) break;
            // No creator ever writes a state above ready: not a que segment.
            if (s > static_cast<std::uint32_t>(init_state::ready)) return fail(errc::bad_magic);
            // Sized but not ready. A creator takes its lock before it sizes
            // the file, so the lock tested now (after we saw the size) is the
            // truth: held, the creator is at work; free, it has closed its
            // descriptor, having finished (then state is ready by now: it
            // stores ready before it closes), given up (no links left) or died.
            if (p.creator_lock && !write_locked(fd)) {
                if (::fstat(fd, &st) != 0) return fail({errno, std::system_category()});
                if (gone(st)) return gone_result();
                s = state.load(std::memory_order_acquire);
                if (s == static_cast<std::uint32_t>(init_state::ready)) break;
                return fail(errc::creator_died, join_result::stale);
            }
        }
        if (!backoff.wait()) {
            // Still size 0 at the deadline, or a creator that holds its lock
            // and is slow: not_ready. Size 0 and nobody holds the lock: the
            // creator died before sizing (it may also be between its open and
            // its lock, but not for a whole join_timeout).
            if (size == 0 && p.creator_lock && !write_locked(fd) && ::fstat(fd, &st) == 0 && st.st_size == 0 &&
                !gone(st))
                return fail(errc::creator_died, join_result::stale);
            return fail(errc::not_ready);
        }
    }
    ec = validate(m, bytes, spec);
    // The page size it was made with must be the one we asked for (it is a
    // property of where the file lives, so a mismatch means a forged header),
    // and the file exactly what a creator makes of segment_size: no larger.
    if (!ec && (header_of(m)->page_size != p.page || bytes != round_up(header_of(m)->segment_size, p.page)))
        ec = errc::corrupt_segment;
    if (!ec && p.populate) {
        // Now that the size is known to be sane, map it again, faulted in.
        ::munmap(m, bytes);
        m = map_shared(fd, bytes, p.read_only, true, p.huge, ec);
    }
    if (ec) return fail(ec);
    base = m;
    return join_result::joined;
}

// ---- one name, one channel --------------------------------------------------
//
// A name may live in /dev/shm (standard pages) or on any hugetlbfs mount (of
// either huge page size). Two sides that disagree on shm_options::pages would
// otherwise each make their own segment under the same name and never meet,
// silently. So a creator, right after its O_EXCL create and before it sizes
// the file, looks for the name in every other location and, if it is there,
// removes its own file and fails with errc::exists_with_other_pages; a joiner
// in mode `open` that finds nothing looks there too, to say why.

// /proc/mounts escapes space, tab, newline and backslash as \ooo.
inline std::string unescape_mount_field(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const bool octal = s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7' && s[i + 2] >= '0' &&
                           s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7';
        if (!octal) {
            out.push_back(s[i]);
            continue;
        }
        out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
        i += 3;
    }
    return out;
}

// Where a segment file may live: its directory and the page size there.
struct segment_location {
    std::string dir;
    std::uint64_t page = 0;  // bytes per page
};

// /dev/shm and every hugetlbfs mount point of /proc/mounts (its page size
// from statfs). Setup and diagnosis only.
inline std::vector<segment_location> segment_locations() {
    std::vector<segment_location> out{{std::string(shm_dir), page_bytes(page_size::standard)}};
    std::FILE* f = std::fopen("/proc/mounts", "re");
    if (f == nullptr) return out;
    char line[4096];
    while (std::fgets(line, sizeof line, f) != nullptr) {
        char dev[1024], dir[2048], type[64];
        if (std::sscanf(line, "%1023s %2047s %63s", dev, dir, type) != 3 || std::strcmp(type, "hugetlbfs") != 0)
            continue;
        std::string d = unescape_mount_field(dir);
        struct statfs fs {};
        if (::statfs(d.c_str(), &fs) != 0) continue;
        out.push_back({std::move(d), static_cast<std::uint64_t>(fs.f_bsize)});
    }
    std::fclose(f);
    return out;
}

// Is `leaf` taken in a location other than the directory `own_dir_fd`
// (compared by device and inode, so a bind mount of our own directory is
// ours)? Anything at the name counts, a regular file or not: it is not ours
// to judge. Fills `found` (if given) with the first such location.
inline bool exists_elsewhere(std::string_view leaf, int own_dir_fd, segment_location* found = nullptr) {
    struct stat own {};
    if (::fstat(own_dir_fd, &own) != 0) return false;
    const std::string name(leaf);
    for (segment_location& l : segment_locations()) {
        unique_fd d(::open(l.dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        struct stat ds {};
        if (!d || ::fstat(d.get(), &ds) != 0) continue;  // a mount we cannot reach holds nothing we could join
        if (ds.st_dev == own.st_dev && ds.st_ino == own.st_ino) continue;
        struct stat st {};
        if (::fstatat(d.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (found != nullptr) *found = std::move(l);
        return true;
    }
    return false;
}

} // namespace detail
} // namespace que
