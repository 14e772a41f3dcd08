// que/backing/memfd.hpp — a channel in a sealed anonymous file (memfd), handed
// to the peer as a file descriptor: by fork (the child inherits it) or over a
// Unix socket (que::send_fd / que::receive_fd, SCM_RIGHTS).
//
//   que::memfd seg;                                        // process A
//   auto tx = que::spsc::producer<Msg, 4096>::open(seg);   // creates and seals it
//   que::send_fd(sock, seg.fd());                          // or fork()
//
//   auto seg = que::memfd::from_fd(que::receive_fd(sock)); // process B (adopts the fd)
//   auto rx = que::spsc::consumer<Msg, 4096>::open(seg);   // checks the seals, then joins
//
// Why (docs/security.md): anyone who can write a named segment can truncate
// it, and every process that maps it then dies of SIGBUS on its next access.
// A memfd created here is sized once and then sealed with F_SEAL_SHRINK |
// F_SEAL_GROW | F_SEAL_SEAL: no process, not even its creator, can change its
// size again (ftruncate fails with EPERM), so a hostile or buggy peer can
// corrupt the ring's contents (que stays in bounds) but cannot make it fault.
// A join refuses a descriptor without F_SEAL_SHRINK and F_SEAL_GROW
// (errc::unsealed_fd): a plain file, or a memfd its sender left resizable.
// There is no name: nobody can plant a segment, and the file goes away with
// the last descriptor and mapping. Only who is given the descriptor can join.
//
// Contract:
//  - A default-constructed memfd is empty; the first attach (a handle's open
//    or make) creates the file, sizes it for the channel, seals it and
//    initialises the header. fd() is then the descriptor to hand over (it
//    stays owned by the memfd object and its copies; close-on-exec: dup it
//    without FD_CLOEXEC for an exec'd program).
//  - from_fd(fd) adopts a descriptor someone handed us: every later attach
//    joins it, checking seals, size and every header field (as a que::shm
//    join does), never waiting: a memfd is complete before it is handed out.
//  - Copies of a memfd share the descriptor (closed with the last copy);
//    attaching one memfd object from two threads at once is serialised.
//  - attach_read_only maps PROT_READ (spmc consumers use it); a subscriber
//    given read_only_fd() instead of fd() can do nothing else.
//  - Hole punching (fallocate PUNCH_HOLE) is not sealed against: it zeroes
//    pages, a corruption like any other write, never a fault.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <utility>

#include "../detail/element.hpp"
#include "../detail/layout.hpp"
#include "../detail/mapping.hpp"
#include "../detail/pages.hpp"
#include "../detail/shm_file.hpp"

namespace que {

struct memfd_options {
    // Shown as "memfd:<name>" in /proc/<pid>/fd and /proc/<pid>/maps; no
    // meaning otherwise (it names nothing others can open).
    std::string name = "que";
    // Fault every page in at attach (MAP_POPULATE).
    bool populate = true;
};

namespace detail {

// The seals a creator applies, and the two a joiner requires.
inline constexpr int memfd_required_seals = F_SEAL_SHRINK | F_SEAL_GROW;
inline constexpr int memfd_creator_seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

struct memfd_state {
    std::mutex lock;  // one attach at a time: the first one creates
    unique_fd fd;
    bool adopted = false;  // from_fd: join only, never create (even if the fd is bad)
};

// What the mapping's owner undoes.
struct memfd_region {
    void* base = nullptr;
    std::uint64_t bytes = 0;
    ~memfd_region() {
        if (base != nullptr) ::munmap(base, bytes);
    }
};

inline mapping own_mapping(void* base, std::uint64_t bytes, bool created, bool read_only) {
    auto region = std::make_shared<memfd_region>();
    region->base = base;
    region->bytes = bytes;
    return {base, bytes, page_size::standard, false, created, std::shared_ptr<void>(region, base), nullptr,
            read_only};
}

} // namespace detail

class memfd {
public:
    memfd() : memfd(memfd_options{}) {}
    explicit memfd(memfd_options opt) : opt_(std::move(opt)), state_(std::make_shared<detail::memfd_state>()) {}

    // Adopts `fd` (closes it when the last copy of the result goes). Checks
    // nothing yet: a handle's open does, and reports what it found; an
    // adopted memfd never creates (from_fd(-1), say from a receive_fd that
    // failed, is std::errc::bad_file_descriptor at open, not a fresh ring).
    static memfd from_fd(int fd, memfd_options opt = {}) {
        memfd m(std::move(opt));
        m.state_->fd.reset(fd);
        m.state_->adopted = true;
        return m;
    }

    // The descriptor to hand over; -1 before the first attach of a fresh memfd.
    int fd() const noexcept { return state_->fd.get(); }

    // A new descriptor of the same file opened read-only (through
    // /proc/self/fd), for subscribers that must not write at all: with it a
    // process can only map the ring PROT_READ (spmc consumers do), and
    // cannot write, truncate or punch holes. The caller owns it; -1 and `ec`
    // set when there is no file yet or /proc is not mounted.
    int read_only_fd(std::error_code& ec) const noexcept {
        if (fd() < 0) {
            ec = std::make_error_code(std::errc::bad_file_descriptor);
            return -1;
        }
        char path[32];
        std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd());
        const int ro = ::open(path, O_RDONLY | O_CLOEXEC);
        if (ro < 0) {
            ec = {errno, std::system_category()};
            return -1;
        }
        ec.clear();
        return ro;
    }
    int read_only_fd() const {
        return detail::throw_on_error("que::memfd::read_only_fd",
                                      [&](std::error_code& ec) { return read_only_fd(ec); });
    }

    // For the text of a setup error (detail/describe.hpp), only after a failure.
    std::string describe() const { return "que::memfd, fd " + std::to_string(fd()); }
    bool read_prefix(void* buf, std::size_t n) const noexcept {
        return fd() >= 0 && ::pread(fd(), buf, n, 0) == static_cast<ssize_t>(n);
    }

    detail::mapping attach(const detail::channel_spec& spec, std::error_code& ec) const {
        return attach_as(spec, false, ec);
    }
    detail::mapping attach_read_only(const detail::channel_spec& spec, std::error_code& ec) const {
        return attach_as(spec, true, ec);
    }

private:
    detail::mapping attach_as(const detail::channel_spec& spec, bool read_only, std::error_code& ec) const {
        std::lock_guard<std::mutex> guard(state_->lock);
        if (!state_->fd && state_->adopted) {
            ec = std::make_error_code(std::errc::bad_file_descriptor);
            return {};
        }
        if (!state_->fd) return create(spec, read_only, ec);
        return join(state_->fd.get(), spec, read_only, opt_.populate, ec);
    }

    detail::mapping create(const detail::channel_spec& spec, bool read_only, std::error_code& ec) const {
        detail::unique_fd fd(::memfd_create(opt_.name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
        if (!fd) {
            ec = errno == ENOMEM || errno == EMFILE || errno == ENFILE ? std::error_code{errc::out_of_memory}
                                                                       : std::error_code{errno, std::system_category()};
            return {};
        }
        const std::uint64_t bytes = detail::round_up(spec.segment_size(), detail::page_bytes(page_size::standard));
        if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) {
            ec = errno == ENOSPC || errno == ENOMEM ? std::error_code{errc::out_of_memory}
                                                    : std::error_code{errno, std::system_category()};
            return {};
        }
        // shmem files are sparse: take the memory now (an error here rather
        // than a SIGBUS on some later push when memory is short).
        if (int err = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(bytes)); err != 0) {
            ec = err == ENOSPC || err == ENOMEM ? std::error_code{errc::out_of_memory}
                                                : std::error_code{err, std::system_category()};
            return {};
        }
        // Sealed before anyone else can have it: from here on nobody can
        // change the size, nor take the seals off (F_SEAL_SEAL).
        if (::fcntl(fd.get(), F_ADD_SEALS, detail::memfd_creator_seals) != 0) {
            ec = {errno, std::system_category()};
            return {};
        }
        void* base = detail::map_shared(fd.get(), bytes, false, opt_.populate, false, ec);
        if (base == nullptr) return {};
        // A fresh memfd reads as zeros, as initialize() requires.
        detail::initialize(base, spec, detail::page_bytes(page_size::standard),
                           static_cast<std::uint32_t>(::getpid()));
        if (read_only && ::mprotect(base, bytes, PROT_READ) != 0) {
            ec = {errno, std::system_category()};
            ::munmap(base, bytes);
            return {};
        }
        state_->fd = std::move(fd);
        ec.clear();
        return detail::own_mapping(base, bytes, true, read_only);
    }

    static detail::mapping join(int fd, const detail::channel_spec& spec, bool read_only, bool populate,
                                std::error_code& ec) {
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            ec = {errno, std::system_category()};  // EBADF: no such descriptor
            return {};
        }
        if (!S_ISREG(st.st_mode)) {
            ec = errc::not_a_regular_file;
            return {};
        }
        // F_GET_SEALS fails (EINVAL) on anything that cannot be sealed: a
        // file on disk, a named shm segment, a memfd made without
        // MFD_ALLOW_SEALING. All of them can be resized under us.
        const int seals = ::fcntl(fd, F_GET_SEALS);
        if (seals < 0 || (seals & detail::memfd_required_seals) != detail::memfd_required_seals) {
            ec = errc::unsealed_fd;
            return {};
        }
        // A read-only descriptor (read_only_fd()) serves read-only attaches
        // only: say so rather than let mmap fail with a bare EACCES.
        const int flags = ::fcntl(fd, F_GETFL);
        if (!read_only && flags >= 0 && (flags & O_ACCMODE) == O_RDONLY) {
            ec = errc::permission_denied;
            return {};
        }
        // No creator can be at work on a sealed memfd (it was complete before
        // it was handed out): no wait, no creator lock.
        detail::setup_backoff no_wait(std::chrono::milliseconds(0));
        const detail::join_params jp{detail::page_bytes(page_size::standard), read_only, populate, false, false, false};
        void* base = nullptr;
        std::uint64_t bytes = 0;
        detail::join_segment(fd, spec, jp, no_wait, base, bytes, ec);
        if (ec) return {};
        return detail::own_mapping(base, bytes, false, read_only);
    }

    memfd_options opt_;
    std::shared_ptr<detail::memfd_state> state_;
};

// Sends the descriptor `fd` over the connected Unix socket `socket`
// (SCM_RIGHTS, with one byte of data). The receiver gets its own descriptor
// of the same open file; ours stays open.
inline void send_fd(int socket, int fd, std::error_code& ec) noexcept {
    char byte = 'q';
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    do {
        n = ::sendmsg(socket, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != 1) {
        ec = {n < 0 ? errno : EIO, std::system_category()};
        return;
    }
    ec.clear();
}
inline void send_fd(int socket, int fd) {
    detail::throw_on_error("que::send_fd", [&](std::error_code& ec) {
        send_fd(socket, fd, ec);
        return 0;
    });
}

// Receives one descriptor sent by send_fd on `socket` (blocking, as the
// socket is); returns it (close-on-exec; the caller owns it), or -1 with
// `ec` set: std::errc::connection_aborted when the peer closed the socket,
// std::errc::bad_message when the message carried no descriptor.
inline int receive_fd(int socket, std::error_code& ec) noexcept {
    char byte = 0;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do {
        n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        ec = {errno, std::system_category()};
        return -1;
    }
    int fd = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int got;
            std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (fd < 0) fd = got;
            else ::close(got);  // more than we asked for: not ours to keep
        }
    }
    if (n == 0 && fd < 0) {
        ec = std::make_error_code(std::errc::connection_aborted);
        return -1;
    }
    if (fd < 0 || (msg.msg_flags & MSG_CTRUNC) != 0) {
        if (fd >= 0) ::close(fd);
        ec = std::make_error_code(std::errc::bad_message);
        return -1;
    }
    ec.clear();
    return fd;
}
inline int receive_fd(int socket) {
    return detail::throw_on_error("que::receive_fd", [&](std::error_code& ec) { return receive_fd(socket, ec); });
}

} // namespace que
