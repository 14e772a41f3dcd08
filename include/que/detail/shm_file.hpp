// que/detail/shm_file.hpp — the file-system side of a shared segment: names,
// hugetlbfs mounts, opening, and errno → que::errc.
//
// A segment is one file: `/dev/shm/<name>` (through shm_open) on standard
// pages, or `<hugetlbfs dir>/<name>` on a hugetlbfs mount for huge pages.
// Everything here runs at setup time only.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "../errc.hpp"
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

// A name is one path component: 1..200 bytes, no '/', no NUL, not "." or "..".
// shm_open would otherwise accept names that escape /dev/shm or collide with
// the directory itself.
inline bool valid_shm_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > max_shm_name) return false;
    if (name == "." || name == "..") return false;
    for (char c : name)
        if (c == '/' || c == '\0') return false;
    return true;
}

inline std::string_view default_hugetlbfs_dir(page_size p) noexcept {
    return p == page_size::gigantic_1g ? default_hugetlbfs_dir_1g : default_hugetlbfs_dir_2m;
}

// Is `dir` a hugetlbfs mount whose page size is that of `p`? A plain
// directory (tmpfs, ext4) would silently give standard pages, and a mount of
// the other huge size a different layout of memory than asked for, so both
// are refused rather than used.
inline std::error_code check_hugetlbfs(const std::string& dir, page_size p) noexcept {
    struct statfs fs {};
    if (::statfs(dir.c_str(), &fs) != 0) {
        if (errno == EACCES) return errc::permission_denied;
        return errc::hugetlbfs_not_mounted;
    }
    if (static_cast<std::uint64_t>(fs.f_type) != static_cast<std::uint64_t>(HUGETLBFS_MAGIC))
        return errc::hugetlbfs_not_mounted;
    if (static_cast<std::uint64_t>(fs.f_bsize) != page_bytes(p)) return errc::hugetlbfs_not_mounted;
    return {};
}

// errno of an open/shm_open/unlink → the error a user can act on.
inline std::error_code open_error(int err) noexcept {
    switch (err) {
    case EACCES:
    case EPERM: return errc::permission_denied;
    case ENOENT: return errc::not_found;
    case EEXIST: return errc::already_exists;
    case ENAMETOOLONG:
    case EINVAL: return errc::invalid_name;
    default: return {err, std::system_category()};
    }
}

// One segment's file: which namespace it lives in and how to reach it.
struct shm_path {
    bool huge = false;  // false: shm_open namespace (/dev/shm); true: a hugetlbfs file
    std::string path;   // "/<name>" for shm_open, "<dir>/<name>" for hugetlbfs

    int open(int flags, mode_t mode) const noexcept {
        return huge ? ::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW, mode)
                    : ::shm_open(path.c_str(), flags, mode);  // shm_open adds O_CLOEXEC|O_NOFOLLOW
    }
    int unlink() const noexcept { return huge ? ::unlink(path.c_str()) : ::shm_unlink(path.c_str()); }
};

// Owns a file descriptor for the duration of attach().
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
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

} // namespace detail
} // namespace que
