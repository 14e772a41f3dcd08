// que/detail/liveness.hpp — is the process at the other end still there?
//
// Each side records, in the cold half of its block, its pid and its process
// start time (field 22 of /proc/<pid>/stat: clock ticks after boot). A pid
// alone is not an identity: after the peer dies the kernel may hand its pid
// to an unrelated process. (pid, start time) is unique for the life of the
// machine. A process counts as alive when kill(pid, 0) finds it, its thread
// group is not all zombies (a kill -9'ed child is one until its parent reaps
// it; a process whose main thread called pthread_exit shows its leader as a
// zombie while its other threads run, so the other threads decide) and its
// start time matches the recorded one. That holds for our own pid too: a
// record left by an earlier process that had our pid (a container app
// restarting as pid 1) is dead. Our own start time is compared as read the
// same way it was recorded (read_proc_stat of our pid), since under qemu-user
// /proc of the emulated process itself is emulated and differs from what
// other processes read for it (docs/verification.md); two ticks of skew are
// allowed for that emulation.
//
// Who writes: only a claimant or the side that holds the role writes its
// pid/start_time (claim_role on open, release_role when the handle goes
// away). Everyone may read them. The claim protocol (claim_role_as below)
// lets only one of racing claimants win, and never pairs a pid with another
// process's start time. Nothing here waits or allocates; it makes system
// calls, so it belongs on slow paths only (open, a waiter's periodic check,
// queries).
//
// pid namespaces: the pids are those of the writer's namespace; processes
// sharing a segment across pid namespaces see each other as dead.
//
// Time namespaces (Linux 5.6+): /proc/<pid>/stat's start time is shifted by
// the boot-time offset of the *reading* process's time namespace, so a
// holder in another time namespace recorded a value that the checker reads
// differently. When the recorded start time does not match, the checker
// compares /proc/<pid>/ns/time with its own /proc/self/ns/time; if they
// differ, start times cannot be compared and the pid alone decides (as for a
// record with start time 0): a live holder in another time namespace stays
// alive, but a dead one whose pid was reused by a process of that other time
// namespace is not detected while that process lives. When the links cannot
// be read (no time namespaces in the kernel, or no ptrace read access to a
// process of another user), the start times are compared as usual.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

// A start_time value with the top bit set is a claimant's marker (see
// claim_role_as), never a start time (clock ticks stay far below 2^63): it
// reads as "unknown", like 0.
inline constexpr std::uint64_t claim_marker_bit = std::uint64_t{1} << 63;
inline constexpr std::uint64_t claim_marker(std::uint32_t pid) noexcept { return claim_marker_bit | pid; }

// Whether any thread of `pid`'s thread group is not a zombie: read when its
// leader is one (the main thread called pthread_exit, or the whole process
// exited). getdents64 into a stack buffer: opendir would allocate.
inline bool thread_group_runs(std::uint32_t pid) noexcept {
    char path[48];
    std::snprintf(path, sizeof path, "/proc/%u/task", pid);
    const int fd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    alignas(8) char buf[4096];
    bool runs = false;
    for (;;) {
        const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n <= 0) break;
        for (long at = 0; at < n && !runs;) {
            // struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[].
            std::uint16_t reclen = 0;
            std::memcpy(&reclen, buf + at + 16, sizeof reclen);
            const char* name = buf + at + 19;
            if (reclen == 0) break;
            at += reclen;
            std::uint32_t tid = 0;
            bool numeric = *name != '\0';
            for (const char* c = name; *c != '\0'; ++c) {
                if (*c < '0' || *c > '9') numeric = false;
                else tid = tid * 10 + static_cast<std::uint32_t>(*c - '0');
            }
            if (!numeric || tid == pid) continue;
            char tpath[64];
            std::snprintf(tpath, sizeof tpath, "/proc/%u/task/%u/stat", pid, tid);
            const int tfd = ::open(tpath, O_RDONLY | O_CLOEXEC);
            if (tfd < 0) continue;  // that thread just left
            char st[512];
            const ssize_t k = ::read(tfd, st, sizeof st - 1);
            ::close(tfd);
            if (k <= 0) continue;
            st[k] = '\0';
            const char* p = std::strrchr(st, ')');
            if (p != nullptr && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X' && p[2] != 'x' && p[2] != '\0') runs = true;
        }
        if (runs) break;
    }
    ::close(fd);
    return runs;
}

// Whether `pid` is in another time namespace than we are (false when that
// cannot be told: see the contract above).
inline bool other_time_namespace(std::uint32_t pid) noexcept {
    char path[48];
    std::snprintf(path, sizeof path, "/proc/%u/ns/time", pid);
    struct stat theirs {}, ours {};
    if (::stat(path, &theirs) != 0 || ::stat("/proc/self/ns/time", &ours) != 0) return false;
    return theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev;
}

// Whether (pid, start_time) names a live process. start_time 0 (or a claim
// marker) means unknown: then the pid alone decides.
inline bool process_alive(std::uint32_t pid, std::uint64_t start_time) noexcept {
    if (pid == 0 || pid > static_cast<std::uint32_t>(INT32_MAX)) return false;
    if ((start_time & claim_marker_bit) != 0) start_time = 0;
    // Two ticks of slack for the qemu-user skew (see the contract); a pid
    // reused within 20 ms would have to cycle through the whole pid space.
    auto same_start = [start_time](std::uint64_t t) noexcept {
        return start_time == 0 || (t > start_time ? t - start_time : start_time - t) <= 2;
    };
    if (pid == self_pid()) return same_start(self_start_time());  // read as claim_role recorded it
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;  // EPERM: exists, not ours
    const proc_stat st = read_proc_stat(pid);
    if (!st.exists) return true;  // no /proc (or a race with its exit): kill said it exists
    if (st.zombie && !thread_group_runs(pid)) return false;
    return same_start(st.start_time) || other_time_namespace(pid);
}

enum class peer_state { absent, alive, dead };

// The state of whoever holds the role recorded in (pid, start_time).
inline peer_state check_peer(const std::atomic<std::uint32_t>& pid,
                             const std::atomic<std::uint64_t>& start_time) noexcept {
    // acquire on pid, then start_time [pair:claim-record]: a claimant puts its
    // marker into start_time before it swaps its pid in (acq_rel), so a
    // reader that sees the new pid reads that marker (unknown: judged by the
    // pid), the new owner's start time, or a later claimant's marker; never
    // the previous owner's start time.
    const std::uint32_t p = pid.load(std::memory_order_acquire);  // [pair:claim-record]
    if (p == 0) return peer_state::absent;
    const std::uint64_t t = start_time.load(std::memory_order_acquire);  // [pair:claim-start]
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
//
// The record is two words that cannot be swapped together, so a claimant
// first reserves start_time, then swaps the pid, and only the winner of the
// pid swap writes its start time:
//  1. Read (held, t). A live holder: refuse.
//  2. CAS start_time t -> marker(self). Failing means someone changed the
//     record since step 1: start again.
//  3. CAS pid held -> self. The winner stores its start time: the last write
//     of the claim. A loser puts back the t it replaced, if its marker is
//     still there (a winner's start-time store replaces it otherwise), and
//     starts again (and then sees the winner alive).
// So a loser's only lasting write is none: its marker is either refused
// (step 2 fails once the record changed), overwritten by the winner's final
// store, or put back by the loser itself; the old claim_role's "zero, then
// swap" let a loser's zero land after the winner's start time. A reader that
// sees a pid sees a start time written no earlier than that pid's step 2: a
// marker (unknown: judged by the pid alone) or the pid's own start time. A
// claimant killed between steps 2 and 3 leaves its marker, which the next
// claimant's step 2 replaces; one killed between its pid swap and its
// start-time store leaves its pid with its marker: judged by the pid alone.
inline constexpr int claim_rounds = 1000;

inline bool claim_role_as(std::atomic<std::uint32_t>& pid, std::atomic<std::uint64_t>& start_time,
                          std::uint32_t self, std::uint64_t mine) noexcept {
    run_claim_hook(claim_point::enter);
    // Bounded: each failed round means another process changed the record
    // meanwhile; one that never stops (a hostile writer) gets role_taken
    // rather than a claimant spinning for good.
    for (int round = 0; round < claim_rounds; ++round) {
        std::uint32_t held = pid.load(std::memory_order_acquire);               // [pair:claim-record]
        std::uint64_t seen = start_time.load(std::memory_order_acquire);        // [pair:claim-start]
        if (held != 0 && process_alive(held, seen)) return false;
        run_claim_hook(claim_point::before_reserve);
        const std::uint64_t marker = claim_marker(self);
        if (!start_time.compare_exchange_strong(seen, marker, std::memory_order_relaxed)) continue;
        // acq_rel: our marker is ordered before our pid for any reader that
        // acquires the pid [pair:claim-record]; acquire so we see what the
        // previous holder published before it left.
        if (pid.compare_exchange_strong(held, self, std::memory_order_acq_rel, std::memory_order_acquire)) {
            run_claim_hook(claim_point::after_swap);
            start_time.store(mine & ~claim_marker_bit, std::memory_order_release);  // [pair:claim-start]
            return true;
        }
        std::uint64_t ours = marker;  // lost the pid race: put back what we replaced
        start_time.compare_exchange_strong(ours, seen, std::memory_order_relaxed);
    }
    return false;
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
