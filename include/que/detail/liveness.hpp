// que/detail/liveness.hpp — is the process at the other end still there?
//
// Each side records, in the cold half of its block, its pid and its process
// start time (field 22 of /proc/<pid>/stat: clock ticks after boot). A pid
// alone is not an identity: after the peer dies the kernel may hand its pid
// to an unrelated process. (pid, start time) is unique for the life of the
// machine. A process counts as alive when kill(pid, 0) finds it, it is not a
// zombie (a kill -9'ed child is one until its parent reaps it) and its start
// time matches the recorded one.
//
// Who writes: only the side that holds the role writes its pid/start_time
// (claim_role on open, release_role when the handle goes away). Everyone
// may read them. Nothing here waits or allocates; it makes system calls, so
// it belongs on slow paths only (open, a waiter's periodic check, queries).
//
// pid namespaces: the pids are those of the writer's namespace; processes
// sharing a segment across pid namespaces see each other as dead.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace que::detail {

struct proc_stat {
    bool exists = false;        // /proc/<pid>/stat could be read
    bool zombie = false;        // state Z (exited, not reaped) or X (dead)
    std::uint64_t start_time = 0;  // field 22, clock ticks after boot
};

// Reads /proc/<pid>/stat into a stack buffer: no allocation.
inline proc_stat read_proc_stat(std::uint32_t pid) noexcept {
    proc_stat out;
    char path[48];
    std::snprintf(path, sizeof path, "/proc/%u/stat", pid);
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return out;
    char buf[1024];
    ssize_t n;
    do {
        n = ::read(fd, buf, sizeof buf - 1);
    } while (n < 0 && errno == EINTR);
    ::close(fd);
    if (n <= 0) return out;
    buf[n] = '\0';
    // "pid (comm) state ppid ...": comm may hold spaces and ')' itself, so the
    // fields start after the LAST ')'.
    const char* p = std::strrchr(buf, ')');
    if (p == nullptr || p[1] != ' ') return out;
    p += 2;
    out.exists = true;
    out.zombie = (*p == 'Z' || *p == 'X' || *p == 'x');
    // p is at field 3 (state); skip to field 22.
    for (int field = 3; field < 22; ++field) {
        p = std::strchr(p, ' ');
        if (p == nullptr) return out;
        ++p;
    }
    std::uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; ++p) v = v * 10 + static_cast<std::uint64_t>(*p - '0');
    out.start_time = v;
    return out;
}

inline std::uint32_t self_pid() noexcept { return static_cast<std::uint32_t>(::getpid()); }

inline std::uint64_t self_start_time() noexcept { return read_proc_stat(self_pid()).start_time; }

// Whether (pid, start_time) names a live process. start_time 0 means unknown:
// then the pid alone decides.
inline bool process_alive(std::uint32_t pid, std::uint64_t start_time) noexcept {
    if (pid == 0 || pid > static_cast<std::uint32_t>(INT32_MAX)) return false;
    // Our own process is alive, whatever /proc says of it: under qemu-user,
    // /proc/self/stat is emulated and its start time differs from what other
    // processes read for us (found by the aarch64 run, docs/verification.md).
    if (pid == self_pid()) return true;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;  // EPERM: exists, not ours
    const proc_stat st = read_proc_stat(pid);
    if (!st.exists) return true;  // no /proc (or a race with its exit): kill said it exists
    if (st.zombie) return false;
    // A tick or two of slack for the same emulation skew; a pid reused within
    // 20 ms would have to cycle through the whole pid space first.
    const std::uint64_t skew = st.start_time > start_time ? st.start_time - start_time : start_time - st.start_time;
    return start_time == 0 || skew <= 2;
}

enum class peer_state { absent, alive, dead };

// The state of whoever holds the role recorded in (pid, start_time).
inline peer_state check_peer(const std::atomic<std::uint32_t>& pid,
                             const std::atomic<std::uint64_t>& start_time) noexcept {
    // acquire on pid, then start_time: claim_role zeroes start_time before it
    // swaps the pid in (release), so a reader that sees the new pid reads
    // either 0 (unknown, judged by pid) or the new owner's start time, never
    // the previous owner's.
    const std::uint32_t p = pid.load(std::memory_order_acquire);
    if (p == 0) return peer_state::absent;
    const std::uint64_t t = start_time.load(std::memory_order_acquire);
    return process_alive(p, t) ? peer_state::alive : peer_state::dead;
}

// Test hooks: the regression tests of the role hand-over (tests/spsc,
// tests/wait) define QUE_TEST_HOOKS to run code at fixed points of
// claim_role and so force the interleavings they check. Without the macro
// the hook is an empty inline function: nothing in a user's build.
enum class claim_point {
    enter,           // claim_role called, nothing read yet
    before_reserve,  // the holder was judged dead or absent; about to take the record
    after_swap,      // our pid is in the record; our start time not yet
};
#ifdef QUE_TEST_HOOKS
inline void (*claim_hook)(claim_point) = nullptr;
inline void run_claim_hook(claim_point at) noexcept {
    if (claim_hook != nullptr) claim_hook(at);
}
#else
inline void run_claim_hook(claim_point) noexcept {}
#endif

// Takes the role for the process (self, mine): fails (false) when a live
// process holds it. A dead holder's role (crash, kill -9) is taken over.
// claim_role below passes this process; tests pass another identity to play
// two claimants from one process.
inline bool claim_role_as(std::atomic<std::uint32_t>& pid, std::atomic<std::uint64_t>& start_time,
                          std::uint32_t self, std::uint64_t mine) noexcept {
    run_claim_hook(claim_point::enter);
    std::uint32_t held = pid.load(std::memory_order_acquire);
    for (;;) {
        if (held != 0 && process_alive(held, start_time.load(std::memory_order_acquire))) return false;
        run_claim_hook(claim_point::before_reserve);
        // See check_peer: zero first so no reader pairs our pid with the
        // previous owner's start time.
        start_time.store(0, std::memory_order_relaxed);
        if (pid.compare_exchange_strong(held, self, std::memory_order_acq_rel, std::memory_order_acquire)) break;
    }
    run_claim_hook(claim_point::after_swap);
    start_time.store(mine, std::memory_order_release);
    return true;
}

inline bool claim_role(std::atomic<std::uint32_t>& pid, std::atomic<std::uint64_t>& start_time) noexcept {
    return claim_role_as(pid, start_time, self_pid(), self_start_time());
}

// Gives the role back (only if we still hold it: a peer may have judged us
// dead and taken it over, in which case it is not ours to clear).
inline void release_role(std::atomic<std::uint32_t>& pid, std::uint32_t self) noexcept {
    std::uint32_t expected = self;
    pid.compare_exchange_strong(expected, 0, std::memory_order_acq_rel, std::memory_order_relaxed);
}

} // namespace que::detail
