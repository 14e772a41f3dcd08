// tests/shm/shm_support.hpp — what the shared-memory tests share: unique names
// that are always removed, forked children with checked exit codes, hand-made
// segments, and a private hugetlbfs mount.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <que/spsc.hpp>

#include "checked_message.hpp"
#include "hugepage_pool.hpp"
#include "pinning.hpp"

namespace shm_test {

// "que-test-<pid>-<n>-<tag>": unique per process and call, so tests running in
// parallel (ctest -j) or repeated never collide.
inline std::string unique_name(const char* tag) {
    static std::atomic<unsigned> counter{0};
    return "que-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)) + "-" + tag;
}

// Removes the segment at scope exit, whatever the test did.
struct name_guard {
    que::shm where;
    explicit name_guard(que::shm w) : where(std::move(w)) { remove(); }
    ~name_guard() { remove(); }
    void remove() {
        std::error_code ec;
        que::shm_remove(where, ec);
    }
    name_guard(const name_guard&) = delete;
    name_guard& operator=(const name_guard&) = delete;
};

inline bool exists_in_dev_shm(const std::string& name) {
    struct stat st {};
    return ::stat(("/dev/shm/" + name).c_str(), &st) == 0;
}

// A forked child. The child runs `body` (which returns its exit status) and
// leaves with _exit: no Catch2 assertion, no destructor of the parent's
// objects, no atexit handler runs in it. An escaping exception is status 99.
class child {
public:
    template <class F>
    explicit child(F&& body) {
        std::fflush(nullptr);  // or buffered output would be printed twice
        pid_ = ::fork();
        if (pid_ == 0) {
            int status = 98;
            try {
                status = body();
            } catch (...) {
                status = 99;
            }
            ::_exit(status);
        }
    }
    child(const child&) = delete;
    child& operator=(const child&) = delete;
    child(child&& o) noexcept : pid_(std::exchange(o.pid_, -1)), status_(o.status_) {}
    // Never leave a zombie (or a runaway child) behind, even when a REQUIRE
    // unwinds the test before wait() was called.
    ~child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            wait();
        }
    }

    pid_t pid() const { return pid_; }
    bool started() const { return pid_ > 0; }

    // Waits for the child; its raw wait status.
    int wait() {
        if (pid_ > 0) {
            while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
            }
            pid_ = -1;
        }
        return status_;
    }
    // True (and the status in `status`) once the child has ended.
    bool try_wait() {
        if (pid_ <= 0) return true;
        if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
            pid_ = -1;
            return true;
        }
        return false;
    }
    int status() const { return status_; }
    // The exit code, or 1000 + signal if it was killed.
    int exit_code() {
        const int s = wait();
        if (WIFEXITED(s)) return WEXITSTATUS(s);
        if (WIFSIGNALED(s)) return 1000 + WTERMSIG(s);
        return -1;
    }

private:
    pid_t pid_ = -1;
    int status_ = 0;
};

// A release barrier for forked children: each child blocks in wait() until the
// parent calls open(), which closes the write end so every read returns at once.
class start_gate {
public:
    start_gate() {
        if (::pipe(fds_) != 0) std::abort();
    }
    ~start_gate() {
        close_fd(fds_[0]);
        close_fd(fds_[1]);
    }
    start_gate(const start_gate&) = delete;
    start_gate& operator=(const start_gate&) = delete;
    void wait_in_child() {
        close_fd(fds_[1]);
        char c;
        while (::read(fds_[0], &c, 1) < 0 && errno == EINTR) {
        }
    }
    void open() { close_fd(fds_[1]); }

private:
    static void close_fd(int& fd) {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    int fds_[2] = {-1, -1};
};

// A segment under /dev/shm made by hand, byte by byte: what a buggy or hostile
// peer (or a creator that died half-way) leaves behind. With `creator_alive`
// it holds the creator's lock (an OFD write lock, as a live que creator does
// until the header is ready) for as long as it exists: a creator stuck, not
// dead. Without it, a segment that is not ready reads as a dead creator's.
class raw_segment {
public:
    raw_segment(const std::string& name, std::size_t bytes, bool creator_alive = false) : bytes_(bytes) {
        fd_ = ::shm_open(("/" + name).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd_ < 0) throw std::system_error(errno, std::system_category(), "raw_segment shm_open");
        if (creator_alive && !que::detail::lock_file(fd_, F_WRLCK))
            throw std::system_error(errno, std::system_category(), "raw_segment lock");
        if (::ftruncate(fd_, static_cast<off_t>(bytes)) != 0)
            throw std::system_error(errno, std::system_category(), "raw_segment ftruncate");
        if (bytes != 0) {
            base_ = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
            if (base_ == MAP_FAILED) base_ = nullptr;
        }
        if (!creator_alive) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~raw_segment() {
        if (base_ != nullptr) ::munmap(base_, bytes_);
        if (fd_ >= 0) ::close(fd_);
    }
    raw_segment(const raw_segment&) = delete;
    raw_segment& operator=(const raw_segment&) = delete;

    void* base() const { return base_; }
    std::byte* bytes() const { return static_cast<std::byte*>(base_); }
    que::detail::header* header() const { return que::detail::header_of(base_); }

private:
    std::size_t bytes_;
    int fd_ = -1;
    void* base_ = nullptr;
};

// Reads a live segment's published producer index without joining it (the
// producer may be dead): a read-only mapping of the header and producer block.
inline std::uint64_t published_write_index(const std::string& name) {
    const int fd = ::shm_open(("/" + name).c_str(), O_RDONLY, 0);
    if (fd < 0) throw std::system_error(errno, std::system_category(), "shm_open");
    void* m = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (m == MAP_FAILED) throw std::system_error(errno, std::system_category(), "mmap");
    const std::uint64_t w = que::detail::producer_of(m)->write.load(std::memory_order_acquire);
    ::munmap(m, 4096);
    return w;
}

// A hugetlbfs mount of our own, in a fresh directory, unmounted and removed at
// scope exit. Only root can mount; `why` says what went wrong otherwise.
class hugetlbfs_mount {
public:
    hugetlbfs_mount(const char* pagesize_option, std::string& why) {
        char tmpl[] = "/tmp/que-test-hugetlbfs-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) {
            why = std::string("mkdtemp: ") + std::strerror(errno);
            return;
        }
        dir_ = tmpl;
        const std::string opts = std::string("pagesize=") + pagesize_option + ",mode=0700";
        if (::mount("none", dir_.c_str(), "hugetlbfs", 0, opts.c_str()) != 0) {
            why = "mount -t hugetlbfs -o " + opts + ": " + std::strerror(errno);
            return;
        }
        mounted_ = true;
    }
    ~hugetlbfs_mount() {
        if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
        if (!dir_.empty()) ::rmdir(dir_.c_str());
    }
    hugetlbfs_mount(const hugetlbfs_mount&) = delete;
    hugetlbfs_mount& operator=(const hugetlbfs_mount&) = delete;

    bool mounted() const { return mounted_; }
    const std::string& dir() const { return dir_; }

private:
    std::string dir_;
    bool mounted_ = false;
};

// Spin-waits (pause, then yield) and gives up after 60 s without progress so
// that a test whose peer died fails instead of hanging. Call reset() on progress.
struct patience {
    que_test::backoff b;
    unsigned streak = 0;
    std::chrono::steady_clock::time_point since{};
    bool pause() {
        if (streak++ == 0) since = std::chrono::steady_clock::now();
        b.pause();
        if ((streak & 4095u) == 0 && std::chrono::steady_clock::now() - since > std::chrono::seconds(60)) return false;
        return true;
    }
    void progress() {
        if (streak != 0) {
            streak = 0;
            b.reset();
        }
    }
};

} // namespace shm_test
