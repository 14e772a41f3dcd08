// Liveness records (detail/liveness.hpp) under pid reuse, thread-group exits,
// racing claimants and time namespaces (issue 11, points 6-9).
#define QUE_TEST_HOOKS 1

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <new>
#include <string>
#include <system_error>

#include <que/backing/shm.hpp>
#include <que/detail/liveness.hpp>

#include "skip.hpp"
#include "support.hpp"

using namespace que_test;
using que::detail::check_peer;
using que::detail::claim_role;
using que::detail::peer_state;

namespace {

struct record {
    std::atomic<std::uint32_t> pid{0};
    std::atomic<std::uint64_t> start_time{0};
};

struct scoped_name {
    std::string name;
    explicit scoped_name(const char* what) : name(unique_name(what)) {
        std::error_code ec;
        que::shm_remove(name, ec);
    }
    ~scoped_name() {
        std::error_code ec;
        que::shm_remove(name, ec);
    }
};

std::function<void(que::detail::claim_point)> on_claim;
void hook(que::detail::claim_point at) {
    if (on_claim) on_claim(at);
}
struct hook_guard {
    hook_guard() { que::detail::claim_hook = &hook; }
    ~hook_guard() {
        que::detail::claim_hook = nullptr;
        on_claim = nullptr;
    }
};

// A pipe to hand a byte between parent and child (a blocking read is the
// synchronisation: no sleeps).
struct channel_pipe {
    int fd[2] = {-1, -1};
    channel_pipe() { REQUIRE(::pipe(fd) == 0); }
    ~channel_pipe() {
        for (int f : fd)
            if (f >= 0) ::close(f);
    }
    void put(char c) const { REQUIRE(::write(fd[1], &c, 1) == 1); }
    char get() const {
        char c = 0;
        ssize_t n;
        do n = ::read(fd[0], &c, 1);
        while (n < 0 && errno == EINTR);
        return n == 1 ? c : '\0';
    }
};

bool is_zombie_leader(pid_t pid) {
    const que::detail::proc_stat st = que::detail::read_proc_stat(static_cast<std::uint32_t>(pid));
    return st.exists && st.zombie;
}

} // namespace

TEST_CASE("liveness: a stale record holding our own pid with another start time is dead (pid reuse)",
          "[liveness][pid-reuse]") {
    const std::uint32_t self = que::detail::self_pid();
    const std::uint64_t mine = que::detail::self_start_time();
    REQUIRE(mine != 0);
    record r;
    // A record left by an earlier process that had our pid (a container app
    // restarting as pid 1, say) and started long before us.
    r.pid = self;
    r.start_time = mine > 1000 ? mine - 1000 : mine + 1000;
    CHECK(check_peer(r.pid, r.start_time) == peer_state::dead);
    CHECK(claim_role(r.pid, r.start_time));  // reclaimed, not refused
    CHECK(r.pid.load() == self);
    CHECK(r.start_time.load() == mine);
    // Our own live record is alive, and a second claim of it refused.
    CHECK(check_peer(r.pid, r.start_time) == peer_state::alive);
    CHECK_FALSE(claim_role(r.pid, r.start_time));
    // Within the documented skew (qemu-user emulation) it is still ours.
    r.start_time = mine + 1;
    CHECK(check_peer(r.pid, r.start_time) == peer_state::alive);
}

TEST_CASE("liveness: the loser of a claim race never clobbers the winner's start time",
          "[liveness][claim-race]") {
    hook_guard hooks;
    // The record of a dead holder: a child that has exited and been reaped.
    const pid_t gone = ::fork();
    if (gone == 0) ::_exit(0);
    int st = 0;
    REQUIRE(::waitpid(gone, &st, 0) == gone);
    record r;
    r.pid = static_cast<std::uint32_t>(gone);
    r.start_time = 12345;

    // Two claimants, both live processes: we are the winner, our parent the
    // loser. The loser judges the holder dead, and then, before it takes the
    // record, the winner claims it whole.
    const std::uint32_t winner = que::detail::self_pid();
    const std::uint64_t winner_start = que::detail::self_start_time();
    const std::uint32_t loser = static_cast<std::uint32_t>(::getppid());
    const std::uint64_t loser_start = que::detail::read_proc_stat(loser).start_time;
    REQUIRE(winner_start != 0);
    bool winner_ran = false;
    on_claim = [&](que::detail::claim_point at) {
        if (at != que::detail::claim_point::before_reserve || winner_ran) return;
        winner_ran = true;
        CHECK(que::detail::claim_role_as(r.pid, r.start_time, winner, winner_start));
    };
    CHECK_FALSE(que::detail::claim_role_as(r.pid, r.start_time, loser, loser_start));
    REQUIRE(winner_ran);
    CHECK(r.pid.load() == winner);
    // The winner's tenure keeps pid-reuse detection: its start time is there.
    CHECK(r.start_time.load() == winner_start);
    CHECK(check_peer(r.pid, r.start_time) == peer_state::alive);
}

TEST_CASE("liveness: a record mid-claim pairs the new pid with no stale start time",
          "[liveness][claim-race]") {
    hook_guard hooks;
    const pid_t gone = ::fork();
    if (gone == 0) ::_exit(0);
    int st = 0;
    REQUIRE(::waitpid(gone, &st, 0) == gone);
    record r;
    r.pid = static_cast<std::uint32_t>(gone);
    r.start_time = 12345;  // not our start time: read with our pid, it would say "dead"
    // While the claim is under way (our pid swapped in, our start time not yet
    // stored), a reader that sees our pid must judge us alive.
    int looks = 0;
    on_claim = [&](que::detail::claim_point) {
        if (r.pid.load() == que::detail::self_pid()) {
            ++looks;
            CHECK(check_peer(r.pid, r.start_time) == peer_state::alive);
        }
    };
    CHECK(claim_role(r.pid, r.start_time));
    on_claim = nullptr;
    CHECK(check_peer(r.pid, r.start_time) == peer_state::alive);
    CHECK(r.start_time.load() == que::detail::self_start_time());
    CHECK(looks == 1);
}

TEST_CASE("liveness: a process whose main thread exited is alive while another thread holds the role",
          "[liveness][thread-group][process]") {
    scoped_name n("main-exit");
    auto rx = que::spsc::consumer<msg, 8>::open(que::shm{n.name});
    static channel_pipe* to_main;    // the thread tells the main thread it holds the role
    static channel_pipe* to_parent;  // ... and the parent; then, each step, that it pushed
    static channel_pipe* to_thread;  // the parent's go-ahead
    static std::string name;
    channel_pipe a, b, c;
    to_main = &a;
    to_parent = &b;
    to_thread = &c;
    name = n.name;
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child == 0) {
        pthread_t t;
        const int rc = ::pthread_create(&t, nullptr, [](void*) -> void* {
            std::error_code ec;
            auto tx = que::spsc::producer<msg, 8>::open(que::shm{name}, ec);
            if (ec) ::_exit(2);
            char x = 'r';
            if (::write(to_main->fd[1], &x, 1) != 1 || ::write(to_parent->fd[1], &x, 1) != 1) ::_exit(3);
            if (::read(to_thread->fd[0], &x, 1) != 1) ::_exit(4);
            if (!tx.try_push(make_msg(42))) ::_exit(5);
            x = 'p';
            if (::write(to_parent->fd[1], &x, 1) != 1) ::_exit(6);
            if (::read(to_thread->fd[0], &x, 1) != 1) ::_exit(7);
            ::_exit(0);
        }, nullptr);
        if (rc != 0) ::_exit(9);
        char x = 0;
        if (::read(to_main->fd[0], &x, 1) != 1) ::_exit(8);
        // The main thread leaves as pthread_exit would, by the exit system
        // call of this thread alone (not exit_group), but without
        // pthread_exit's unwinding of this stack, which runs through Catch2's
        // frames. The leader becomes a zombie; the process runs on.
        ::syscall(SYS_exit, 0);
    }
    REQUIRE(child > 0);
    REQUIRE(to_parent->get() == 'r');
    REQUIRE(eventually([&] { return is_zombie_leader(child); }));
    // The leader is a zombie, the thread group is not: alive, role refused.
    CHECK(rx.peer_alive());
    std::error_code ec;
    auto tx = que::spsc::producer<msg, 8>::open(que::shm{n.name}, ec);
    CHECK(ec == que::errc::role_taken);
    CHECK_FALSE(tx);
    // And its messages still come, with no peer_dead.
    to_thread->put('g');
    REQUIRE(to_parent->get() == 'p');
    msg m{};
    CHECK(rx.pop_for(m, 10s) == que::status::ok);
    CHECK(m.seq == 42);
    CHECK(m.check == check_of(42));
    CHECK(rx.peer_alive());
    to_thread->put('g');
    int st = 0;
    REQUIRE(::waitpid(child, &st, 0) == child);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    // Now the whole group is gone: dead.
    CHECK_FALSE(rx.peer_alive());
}

TEST_CASE("liveness: a holder in another time namespace is judged alive, not dead by a shifted start time",
          "[liveness][time-namespace][process]") {
    // A record in memory shared with the children.
    void* mem = ::mmap(nullptr, sizeof(record), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(mem != MAP_FAILED);
    record* r = new (mem) record;
    channel_pipe up, down;
    std::fflush(nullptr);
    // The child makes a time namespace whose boot time is 1000 s off ours;
    // its child (the first process in it) claims the record and waits.
    const pid_t child = ::fork();
    if (child == 0) {
        if (::unshare(CLONE_NEWTIME) != 0) ::_exit(errno == EPERM || errno == EINVAL ? 10 : 11);
        const int fd = ::open("/proc/self/timens_offsets", O_WRONLY);
        const char offsets[] = "boottime 1000 0\n";
        if (fd < 0 || ::write(fd, offsets, sizeof offsets - 1) != static_cast<ssize_t>(sizeof offsets - 1))
            ::_exit(12);
        ::close(fd);
        const pid_t holder = ::fork();
        if (holder == 0) {
            char x = claim_role(r->pid, r->start_time) ? 'c' : 'x';
            if (::write(up.fd[1], &x, 1) != 1) ::_exit(3);
            if (::read(down.fd[0], &x, 1) != 1) ::_exit(4);
            ::_exit(0);
        }
        int st = 0;
        if (holder < 0 || ::waitpid(holder, &st, 0) != holder) ::_exit(13);
        ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 14);
    }
    REQUIRE(child > 0);
    // The child either reports a claim ('c') or exits (no time namespaces
    // here): then the read sees end of file once our own write end is the
    // only one left... which it is not, so close it first.
    ::close(up.fd[1]);
    up.fd[1] = -1;
    const char got = up.get();
    if (got != 'c') {
        int st = 0;
        ::waitpid(child, &st, 0);
        ::munmap(mem, sizeof(record));
        if (WIFEXITED(st) && WEXITSTATUS(st) == 10) QUE_SKIP("unshare(CLONE_NEWTIME) refused here (EPERM/EINVAL)");
        FAIL("time-namespace child failed, exit status " << (WIFEXITED(st) ? WEXITSTATUS(st) : -1));
    }
    const std::uint32_t holder = r->pid.load();
    const std::uint64_t recorded = r->start_time.load();
    const std::uint64_t seen_here = que::detail::read_proc_stat(holder).start_time;
    INFO("holder " << holder << ": recorded start " << recorded << ", read here " << seen_here);
    CHECK(recorded != seen_here);  // the namespace really shifts what /proc says
    CHECK(check_peer(r->pid, r->start_time) == peer_state::alive);
    CHECK_FALSE(claim_role(r->pid, r->start_time));  // the live holder keeps its role
    down.put('g');
    int st = 0;
    REQUIRE(::waitpid(child, &st, 0) == child);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(check_peer(r->pid, r->start_time) == peer_state::dead);
    ::munmap(mem, sizeof(record));
}

TEST_CASE("liveness: a claim against a record that a hostile writer keeps changing gives up, bounded",
          "[liveness][claim-race][hostile]") {
    hook_guard hooks;
    record r;  // absent holder: claimable
    int rounds = 0;
    on_claim = [&](que::detail::claim_point at) {
        // Between the claimant's read and its reservation, the record changes.
        if (at == que::detail::claim_point::before_reserve) r.start_time.store(static_cast<std::uint64_t>(++rounds));
    };
    CHECK_FALSE(claim_role(r.pid, r.start_time));
    CHECK(rounds == que::detail::claim_rounds);
    CHECK(r.pid.load() == 0);  // nothing taken
}
