// tests/shm/trust.cpp — a shared segment is a trust boundary (docs/security.md):
// each test plays a hostile local user or a buggy peer against a join and
// checks the specific que::errc (or outcome) que answers with. The tests that
// need another user run as root and switch a forked child to `nobody`.
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <que/que.hpp>

#include "shm_support.hpp"
#include "skip.hpp"

namespace {

using namespace std::chrono_literals;
using que_test::msg8;
using shm_test::child;
using shm_test::name_guard;

constexpr uid_t nobody = 65534;
constexpr gid_t nogroup = 65534;

std::string dev_shm(const std::string& name) { return "/dev/shm/" + name; }

// For good, in a forked child: group first, while we still may.
bool become_nobody() { return ::setgroups(0, nullptr) == 0 && ::setgid(nogroup) == 0 && ::setuid(nobody) == 0; }

// Every way in (spsc consumer and producer, spmc consumer (read-only attach)
// and producer), error_code overloads: each must fail with `want`.
void expect_refused(const que::shm& where, que::errc want) {
    std::error_code ec;
    auto rx = que::spsc::consumer<msg8, 64>::open(where, ec);
    CHECK(ec == want);
    CHECK_FALSE(rx);
    auto tx = que::spsc::producer<msg8, 64>::open(where, ec);
    CHECK(ec == want);
    CHECK_FALSE(tx);
    auto srx = que::spmc::consumer<msg8, 64>::open(where, ec);
    CHECK(ec == want);
    CHECK_FALSE(srx);
    auto stx = que::spmc::producer<msg8, 64>::open(where, ec);
    CHECK(ec == want);
    CHECK_FALSE(stx);
    try {
        auto r = que::spsc::consumer<msg8, 64>::open(where);
        FAIL("open did not throw");
    } catch (const std::system_error& e) {
        CHECK(e.code() == want);
        CHECK(std::string(e.what()).find(que::make_error_code(want).message()) != std::string::npos);
    }
}

que::shm joiner(const std::string& name, std::chrono::milliseconds timeout = 10'000ms) {
    return que::shm{name, {.mode = que::open_mode::open, .join_timeout = timeout}};
}

// The permissions ("r--s", "rw-s") of the mapping holding `addr`, from /proc/self/maps.
std::string maps_perms(const void* addr) {
    std::ifstream maps("/proc/self/maps");
    const auto a = reinterpret_cast<std::uintptr_t>(addr);
    for (std::string line; std::getline(maps, line);) {
        unsigned long long lo = 0, hi = 0;
        char perms[8] = {};
        if (std::sscanf(line.c_str(), "%llx-%llx %4s", &lo, &hi, perms) == 3 && a >= lo && a < hi) return perms;
    }
    return "?";
}

// Does a store into `addr` fault? Asked of the kernel (read() of one byte of
// /dev/zero into it: EFAULT if the page is not writable), so no signal is
// raised (sanitizers would catch a SIGSEGV and turn it into an exit code).
bool kernel_store_faults(void* addr) {
    const int fd = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const ssize_t n = ::read(fd, addr, 1);
    const int err = errno;
    ::close(fd);
    return n < 0 && err == EFAULT;
}

// Waits for `c` at most `limit`; false (and the child killed) if it did not end.
bool ends_within(child& c, std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!c.try_wait()) {
        if (std::chrono::steady_clock::now() > until) return false;
        std::this_thread::sleep_for(5ms);  // a watchdog's poll, not synchronisation
    }
    return true;
}

que::detail::creation_stage g_stop_at = que::detail::creation_stage::sized;
int g_signal = SIGKILL;

// A creator, in a child, that receives g_signal at g_stop_at of its initialisation.
int doomed_creator(const std::string& name) {
    que::detail::creation_hook = [](que::detail::creation_stage s) noexcept {
        if (s == g_stop_at) ::raise(g_signal);
    };
    std::error_code ec;
    auto tx = que::spsc::producer<msg8, 64>::open(que::shm{name}, ec);
    if (ec) return 10;
    return tx.try_push(msg8::make(7)) ? 0 : 11;
}

} // namespace

// ---- 10: owner and mode of what we join -----------------------------------

TEST_CASE("shm trust: a segment another user planted (nobody, 0666) is refused: foreign_owner", "[shm][trust]") {
    if (::geteuid() != 0) QUE_SKIP("not root: cannot switch to user nobody to plant a segment");
    const std::string name = shm_test::unique_name("planted");
    name_guard guard(que::shm{name});
    // The audit's attack: nobody creates the name world-writable and puts a
    // forged message in it, waiting for root's producer or consumer.
    child attacker([&] {
        if (!become_nobody()) return 20;
        std::error_code ec;
        auto tx = que::spsc::producer<msg8, 64>::open(que::shm{name, {.permissions = 0666}}, ec);
        if (ec) return 21;
        return tx.try_push(msg8::make(666)) ? 0 : 22;
    });
    REQUIRE(attacker.exit_code() == 0);
    struct stat st {};
    REQUIRE(::stat(dev_shm(name).c_str(), &st) == 0);
    REQUIRE(st.st_uid == nobody);
    // Default options, every way in, every mode that joins.
    expect_refused(que::shm{name}, que::errc::foreign_owner);
    expect_refused(joiner(name), que::errc::foreign_owner);
    // Even with the mode allowed, the owner is not.
    expect_refused(que::shm{name, {.permissions = 0666}}, que::errc::foreign_owner);
    // Naming the owner accepts it (a deliberate cross-user setup).
    std::error_code ec;
    auto rx = que::spsc::consumer<msg8, 64>::open(
        que::shm{name, {.mode = que::open_mode::open, .permissions = 0666, .accepted_owners = {nobody}}}, ec);
    REQUIRE_FALSE(ec);
    msg8 m{};
    REQUIRE(rx.try_pop(m));
    CHECK(m.seq() == 666);
}

TEST_CASE("shm trust: accepted_group admits a group-shared segment, only of that group", "[shm][trust]") {
    if (::geteuid() != 0) QUE_SKIP("not root: cannot chown a segment to another user");
    const std::string name = shm_test::unique_name("group");
    name_guard guard(que::shm{name});
    { auto tx = que::spsc::producer<msg8, 64>::open(que::shm{name, {.permissions = 0660}}); }
    REQUIRE(::chown(dev_shm(name).c_str(), nobody, nogroup) == 0);
    expect_refused(que::shm{name, {.permissions = 0660}}, que::errc::foreign_owner);
    expect_refused(que::shm{name, {.permissions = 0660, .accepted_group = nogroup + 1}}, que::errc::foreign_owner);
    std::error_code ec;
    auto rx = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.permissions = 0660, .accepted_group = nogroup}}, ec);
    CHECK_FALSE(ec);
    CHECK(rx);
    // The group does not excuse the mode: 0666 is still more than 0660.
    rx = {};
    REQUIRE(::chmod(dev_shm(name).c_str(), 0666) == 0);
    expect_refused(que::shm{name, {.permissions = 0660, .accepted_group = nogroup}}, que::errc::insecure_permissions);
}

TEST_CASE("shm trust: a segment with mode bits beyond permissions is refused: insecure_permissions", "[shm][trust]") {
    const std::string name = shm_test::unique_name("mode");
    name_guard guard(que::shm{name});
    { auto tx = que::spsc::producer<msg8, 64>::open(que::shm{name}); }
    for (mode_t bad : {mode_t{0666}, mode_t{0640}, mode_t{0604}, mode_t{0700}, mode_t{04600}, mode_t{01600}}) {
        INFO("mode 0" << std::oct << bad);
        REQUIRE(::chmod(dev_shm(name).c_str(), bad) == 0);
        expect_refused(que::shm{name}, que::errc::insecure_permissions);
    }
    // As open as asked for, or less, is fine.
    REQUIRE(::chmod(dev_shm(name).c_str(), 0640) == 0);
    std::error_code ec;
    auto rx = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.permissions = 0660}}, ec);
    CHECK_FALSE(ec);
    rx = {};
    REQUIRE(::chmod(dev_shm(name).c_str(), 0400) == 0);
    auto srx = que::spmc::consumer<msg8, 64>::open(que::shm{name, {.mode = que::open_mode::open}}, ec);
    CHECK(ec != que::errc::insecure_permissions);
}

// ---- 17: permissions are file permission bits only -------------------------

TEST_CASE("shm trust: permissions outside 0777 are refused (invalid_permissions), nothing created", "[shm][trust]") {
    const std::string name = shm_test::unique_name("badperm");
    name_guard guard(que::shm{name});
    for (mode_t bad : {mode_t{06777}, mode_t{04600}, mode_t{02600}, mode_t{01600}, mode_t{0100000}}) {
        INFO("permissions 0" << std::oct << bad);
        expect_refused(que::shm{name, {.permissions = bad}}, que::errc::invalid_permissions);
        CHECK_FALSE(shm_test::exists_in_dev_shm(name));
    }
    const std::error_code ec = que::errc::invalid_permissions;
    CHECK(ec == std::errc::invalid_argument);
}

// ---- 13: only a regular file at the name -----------------------------------

TEST_CASE("shm trust: a FIFO, directory, symlink, socket or device at the name is refused at once", "[shm][trust]") {
    const std::string name = shm_test::unique_name("nonreg");
    const std::string path = dev_shm(name);
    name_guard guard(que::shm{name});
    const std::string target = shm_test::unique_name("target");
    name_guard guard2(que::shm{target});
    auto real = que::spsc::producer<msg8, 64>::open(que::shm{target});  // a valid segment to point at

    auto check_all_refused = [&](const char* what) {
        INFO(what << " at the name");
        const auto t0 = std::chrono::steady_clock::now();
        expect_refused(joiner(name), que::errc::not_a_regular_file);
        expect_refused(que::shm{name, {.join_timeout = 10'000ms}}, que::errc::not_a_regular_file);
        CHECK(std::chrono::steady_clock::now() - t0 < 5s);  // not after a join timeout
    };
    SECTION("FIFO") {
        REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
        check_all_refused("a FIFO");
    }
    SECTION("directory") {
        REQUIRE(::mkdir(path.c_str(), 0700) == 0);
        check_all_refused("a directory");
        ::rmdir(path.c_str());
    }
    SECTION("symlink to a valid segment") {
        REQUIRE(::symlink(dev_shm(target).c_str(), path.c_str()) == 0);
        check_all_refused("a symlink");
    }
    SECTION("Unix socket") {
        const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
        REQUIRE(s >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        REQUIRE(path.size() < sizeof addr.sun_path);
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        check_all_refused("a socket");
        ::close(s);
    }
    SECTION("character device") {
        if (::mknod(path.c_str(), S_IFCHR | 0600, makedev(1, 3)) != 0)  // what /dev/null is
            QUE_SKIP("mknod refused here (" << std::strerror(errno) << "): cannot plant a device");
        check_all_refused("a device");
    }
}

TEST_CASE("shm trust: a FIFO planted at a remove_on_close name does not block the handle's destructor",
          "[shm][trust]") {
    const std::string name = shm_test::unique_name("fifo-roc");
    name_guard guard(que::shm{name});
    child c([&] {
        std::error_code ec;
        auto rx = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.remove_on_close = true}}, ec);
        if (ec) return 10;
        // Someone removes our segment and plants a FIFO under its name.
        if (::unlink(dev_shm(name).c_str()) != 0 || ::mkfifo(dev_shm(name).c_str(), 0600) != 0) return 11;
        rx = {};  // the last handle: must neither block on the FIFO nor remove it
        struct stat st {};
        return ::lstat(dev_shm(name).c_str(), &st) == 0 && S_ISFIFO(st.st_mode) ? 0 : 12;
    });
    REQUIRE(c.started());
    CHECK(ends_within(c, 20s));
    CHECK(c.exit_code() == 0);
}

// ---- 12: a forked child's copy of a remove_on_close handle -----------------

TEST_CASE("shm trust: a forked child dropping an inherited remove_on_close handle keeps the parent's channel",
          "[shm][trust]") {
    const std::string name = shm_test::unique_name("fork-roc");
    name_guard guard(que::shm{name});
    auto rx = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.remove_on_close = true}});
    auto tx = que::spsc::producer<msg8, 64>::open(que::shm{name});
    child c([&] {
        rx = {};  // the child's copies are the last handles of its address space
        tx = {};
        return 0;
    });
    REQUIRE(c.exit_code() == 0);
    CHECK(shm_test::exists_in_dev_shm(name));
    // And the parent's channel still works.
    REQUIRE(tx.try_push(msg8::make(5)));
    msg8 m{};
    REQUIRE(rx.try_pop(m));
    CHECK(m.seq() == 5);
    // The parent's own last handle removes it, as asked.
    rx = {};
    tx = {};
    CHECK_FALSE(shm_test::exists_in_dev_shm(name));
}

// ---- 16: remove_on_close that cannot remove --------------------------------

TEST_CASE("shm trust: remove_on_close where the unlink would fail (another user's file, sticky /dev/shm) is "
          "refused at open: cannot_remove",
          "[shm][trust]") {
    if (::geteuid() != 0) QUE_SKIP("not root: cannot switch to user nobody");
    const std::string name = shm_test::unique_name("cantrm");
    name_guard guard(que::shm{name});
    auto tx = que::spsc::producer<msg8, 64>::open(que::shm{name, {.permissions = 0666}});  // root's, 0666
    child other([&] {
        if (!become_nobody()) return 20;
        std::error_code ec;
        auto rx = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.permissions = 0666, .remove_on_close = true}}, ec);
        if (ec != que::errc::cannot_remove || rx) return 21;
        if (ec != std::errc::operation_not_permitted) return 22;
        // Without remove_on_close the join is fine (root's segment is trusted).
        rx = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.permissions = 0666}}, ec);
        if (ec || !rx) return 23;
        // And the explicit removal says why it cannot.
        if (que::shm_remove(name, ec) || ec != que::errc::permission_denied) return 24;
        return 0;
    });
    CHECK(other.exit_code() == 0);
    CHECK(shm_test::exists_in_dev_shm(name));
}

// ---- 14: a creator that dies (or stops) inside initialisation ---------------

TEST_CASE("shm trust: a creator killed inside initialisation is reported as creator_died", "[shm][trust]") {
    const std::string name = shm_test::unique_name("died");
    name_guard guard(que::shm{name});
    SECTION("killed after sizing the file: refused at once") {
        g_stop_at = que::detail::creation_stage::sized;
        g_signal = SIGKILL;
        child c([&] { return doomed_creator(name); });
        REQUIRE(c.exit_code() == 1000 + SIGKILL);
        REQUIRE(shm_test::exists_in_dev_shm(name));
        const auto t0 = std::chrono::steady_clock::now();
        expect_refused(joiner(name, 10'000ms), que::errc::creator_died);
        expect_refused(que::shm{name, {.join_timeout = 10'000ms}}, que::errc::creator_died);
        CHECK(std::chrono::steady_clock::now() - t0 < 5s);
        // create does not touch it (no recover_stale).
        expect_refused(que::shm{name, {.mode = que::open_mode::create}}, que::errc::already_exists);
    }
    SECTION("killed before sizing: after the join timeout") {
        g_stop_at = que::detail::creation_stage::locked;
        g_signal = SIGKILL;
        child c([&] { return doomed_creator(name); });
        REQUIRE(c.exit_code() == 1000 + SIGKILL);
        std::error_code ec;
        auto rx = que::spsc::consumer<msg8, 64>::open(joiner(name, 100ms), ec);
        CHECK(ec == que::errc::creator_died);
    }
}

TEST_CASE("shm trust: a stopped (live) creator is not judged dead: not_ready, then it finishes", "[shm][trust]") {
    const std::string name = shm_test::unique_name("stopped");
    name_guard guard(que::shm{name});
    g_stop_at = que::detail::creation_stage::sized;
    g_signal = SIGSTOP;
    child c([&] { return doomed_creator(name); });
    REQUIRE(c.started());
    int st = 0;
    REQUIRE(::waitpid(c.pid(), &st, WUNTRACED) == c.pid());
    REQUIRE(WIFSTOPPED(st));
    std::error_code ec;
    auto rx = que::spsc::consumer<msg8, 64>::open(joiner(name, 100ms), ec);
    CHECK(ec == que::errc::not_ready);
    // recover_stale must not take a live creator's segment away either.
    rx = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.join_timeout = 100ms, .recover_stale = true}}, ec);
    CHECK(ec == que::errc::not_ready);
    REQUIRE(::kill(c.pid(), SIGCONT) == 0);
    CHECK(c.exit_code() == 0);
    rx = que::spsc::consumer<msg8, 64>::open(joiner(name), ec);
    REQUIRE_FALSE(ec);
    msg8 m{};
    REQUIRE(rx.try_pop(m));
    CHECK(m.seq() == 7);
}

TEST_CASE("shm trust: recover_stale removes a dead creator's segment and creates it anew", "[shm][trust]") {
    const std::string name = shm_test::unique_name("recover");
    name_guard guard(que::shm{name});
    auto kill_a_creator = [&](que::detail::creation_stage at) {
        g_stop_at = at;
        g_signal = SIGKILL;
        child c([&] { return doomed_creator(name); });
        REQUIRE(c.exit_code() == 1000 + SIGKILL);
        REQUIRE(shm_test::exists_in_dev_shm(name));
    };
    SECTION("open_or_create") {
        kill_a_creator(que::detail::creation_stage::sized);
        std::error_code ec;
        const auto spec = que::spsc::detail::spec<msg8, 64>();
        que::detail::mapping m = que::shm{name, {.recover_stale = true}}.attach(spec, ec);
        REQUIRE_FALSE(ec);
        CHECK(m.created);
        m = {};
        auto tx = que::spsc::producer<msg8, 64>::open(joiner(name));
        auto rx = que::spsc::consumer<msg8, 64>::open(joiner(name));
        REQUIRE(tx.try_push(msg8::make(3)));
        msg8 out{};
        REQUIRE(rx.try_pop(out));
        CHECK(out.seq() == 3);
    }
    SECTION("create (the name is not blocked for good)") {
        kill_a_creator(que::detail::creation_stage::sized);
        std::error_code ec;
        auto tx = que::spsc::producer<msg8, 64>::open(
            que::shm{name, {.mode = que::open_mode::create, .recover_stale = true}}, ec);
        CHECK_FALSE(ec);
        CHECK(tx);
        // A live segment is not stale: create still says already_exists.
        auto again = que::spsc::producer<msg8, 64>::open(
            que::shm{name, {.mode = que::open_mode::create, .recover_stale = true}}, ec);
        CHECK(ec == que::errc::already_exists);
    }
    SECTION("open: removed, still reported") {
        kill_a_creator(que::detail::creation_stage::sized);
        std::error_code ec;
        auto rx = que::spsc::consumer<msg8, 64>::open(
            que::shm{name, {.mode = que::open_mode::open, .recover_stale = true}}, ec);
        CHECK(ec == que::errc::creator_died);
        CHECK_FALSE(shm_test::exists_in_dev_shm(name));
    }
    SECTION("killed before sizing, recovered after the timeout") {
        kill_a_creator(que::detail::creation_stage::locked);
        std::error_code ec;
        auto rx = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.join_timeout = 100ms, .recover_stale = true}}, ec);
        CHECK_FALSE(ec);
        CHECK(rx);
    }
}

// ---- 15: spmc consumers map read-only ---------------------------------------

TEST_CASE("shm trust: an spmc consumer maps the segment read-only, and still receives and waits", "[shm][trust][spmc]") {
    const std::string name = shm_test::unique_name("ro");
    name_guard guard(que::shm{name});
    SECTION("joining") {
        auto tx = que::spmc::producer<msg8, 64>::open(que::shm{name});
        auto rx = que::spmc::consumer<msg8, 64>::open(que::shm{name});
        CHECK(maps_perms(rx.metadata().data()) == "r--s");
        CHECK(maps_perms(tx.metadata().data()) == "rw-s");
        // The kernel refuses to store into the consumer's mapping: read()
        // into it fails with EFAULT (a store by the CPU would be SIGSEGV),
        // while the producer's takes the byte.
        CHECK(kernel_store_faults(rx.metadata().data()));
        CHECK_FALSE(kernel_store_faults(tx.metadata().data()));
        // It waits (futex on a read-only page: wait::sleep, not the default
        // spin) and receives every message.
        msg8 m{};
        CHECK(rx.pop_for<que::wait::sleep>(m, 20ms) == que::status::timeout);
        const std::uint64_t count = 200;
        que_test::sequence_checker check;
        for (std::uint64_t i = 0; i < count; ++i) {
            tx.push(msg8::make(i));
            REQUIRE(rx.pop_for<que::wait::sleep>(m, 5s) == que::status::ok);
            check.feed(m);
        }
        INFO(check);
        CHECK(check.perfect(count));
    }
    SECTION("creating (the consumer comes first)") {
        auto rx = que::spmc::consumer<msg8, 64>::open(que::shm{name});
        CHECK(maps_perms(rx.metadata().data()) == "r--s");
        CHECK(kernel_store_faults(rx.metadata().data()));
        auto tx = que::spmc::producer<msg8, 64>::open(que::shm{name, {.mode = que::open_mode::open}});
        tx.push(msg8::make(0));
        msg8 m{};
        REQUIRE(rx.try_pop(m));
        CHECK(m.seq() == 0);
    }
    SECTION("a 0640 segment a reader may only read") {
        auto tx = que::spmc::producer<msg8, 64>::open(que::shm{name, {.permissions = 0640}});
        if (::geteuid() != 0) QUE_SKIP("not root: cannot switch to user nobody");
        REQUIRE(::chown(dev_shm(name).c_str(), 0, nogroup) == 0);
        child reader([&] {
            if (::setgroups(0, nullptr) != 0 || ::setgid(nogroup) != 0 || ::setuid(nobody) != 0) return 20;
            std::error_code ec;
            auto r = que::spmc::consumer<msg8, 64>::open(que::shm{name, {.mode = que::open_mode::open,
                                                                         .permissions = 0640}}, ec);
            return ec ? 21 : 0;  // O_RDONLY: a member of the group may join as a reader
        });
        CHECK(reader.exit_code() == 0);
    }
}

// ---- 11: the sealed memfd ---------------------------------------------------

TEST_CASE("memfd: producer and consumer in two processes over a memfd passed by SCM_RIGHTS, every message checked",
          "[memfd][trust]") {
    const std::uint64_t count = que_test::scaled(2'000'000);
    std::printf("memfd stream: %llu messages over SCM_RIGHTS\n", static_cast<unsigned long long>(count));
    std::fflush(stdout);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    child consumer_process([&] {
        ::close(sv[0]);
        std::error_code ec;
        const int fd = que::receive_fd(sv[1], ec);
        if (ec) return 10;
        auto seg = que::memfd::from_fd(fd);
        auto rx = que::spsc::consumer<msg8, 256>::open(seg, ec);
        if (ec) return 11;
        que_test::sequence_checker check;
        msg8 m{};
        while (check.received < count) {
            if (rx.pop_for(m, 60s) != que::status::ok) break;
            check.feed(m);
        }
        if (rx.try_pop(m)) return 13;  // nothing beyond what was sent
        return check.perfect(count) ? 0 : 12;
    });
    REQUIRE(consumer_process.started());
    ::close(sv[1]);
    que::memfd seg;
    CHECK(seg.fd() < 0);
    auto tx = que::spsc::producer<msg8, 256>::open(seg);
    REQUIRE(seg.fd() >= 0);
    que::send_fd(sv[0], seg.fd());
    ::close(sv[0]);
    for (std::uint64_t i = 0; i < count; ++i) REQUIRE(tx.push_for(msg8::make(i), 60s) == que::status::ok);
    CHECK(consumer_process.exit_code() == 0);
}

TEST_CASE("memfd: a forked child inherits the memfd and joins it", "[memfd][trust]") {
    que::memfd seg;
    auto rx = que::spsc::consumer<msg8, 64>::open(seg);
    child producer([&] {
        std::error_code ec;
        rx = {};  // the child is the producer only
        auto tx = que::spsc::producer<msg8, 64>::open(seg, ec);
        if (ec) return 10;
        for (std::uint64_t i = 0; i < 1000; ++i)
            if (tx.push_for(msg8::make(i), 60s) != que::status::ok) return 11;
        return 0;
    });
    que_test::sequence_checker check;
    msg8 m{};
    while (check.received < 1000 && rx.pop_for(m, 60s) == que::status::ok) check.feed(m);
    CHECK(producer.exit_code() == 0);
    INFO(check);
    CHECK(check.perfect(1000));
}

TEST_CASE("memfd: the sealed file cannot be resized (EPERM), so a hostile peer cannot SIGBUS the ring",
          "[memfd][trust]") {
    que::memfd seg;
    auto [tx, rx] = que::spsc::make<msg8, 64>(seg);
    const int fd = seg.fd();
    struct stat st {};
    REQUIRE(::fstat(fd, &st) == 0);
    const int seals = ::fcntl(fd, F_GET_SEALS);
    CHECK((seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
    // A hostile peer holding the descriptor, in another process.
    child hostile([&] {
        if (::ftruncate(fd, 0) == 0 || errno != EPERM) return 10;
        if (::ftruncate(fd, st.st_size / 2) == 0 || errno != EPERM) return 11;
        if (::ftruncate(fd, st.st_size * 2) == 0 || errno != EPERM) return 12;
        if (::fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE) == 0 || errno != EPERM) return 13;  // sealed seals
        return 0;
    });
    CHECK(hostile.exit_code() == 0);
    REQUIRE(::fstat(fd, &st) == 0);
    // The ring is whole: every slot is written and read (a truncated file
    // would have killed this process with SIGBUS here).
    for (std::uint64_t round = 0; round < 4; ++round) {
        for (std::uint64_t i = 0; i < 64; ++i) REQUIRE(tx.try_push(msg8::make(round * 64 + i)));
        msg8 m{};
        for (std::uint64_t i = 0; i < 64; ++i) {
            REQUIRE(rx.try_pop(m));
            CHECK(m.seq() == round * 64 + i);
        }
    }
}

TEST_CASE("memfd: an unsealed or foreign descriptor is refused: unsealed_fd", "[memfd][trust]") {
    const auto spec = que::spsc::detail::spec<msg8, 64>();
    const std::uint64_t bytes = que::detail::round_up(spec.segment_size(), 4096);
    auto expect = [&](int fd, que::errc want) {
        auto seg = que::memfd::from_fd(fd);
        std::error_code ec;
        auto rx = que::spsc::consumer<msg8, 64>::open(seg, ec);
        CHECK(ec == want);
        CHECK_FALSE(rx);
        auto srx = que::spmc::consumer<msg8, 64>::open(seg, ec);  // read-only attach
        CHECK(ec == want);
        using producer = que::spsc::producer<msg8, 64>;
        CHECK_THROWS_AS(producer::open(seg), std::system_error);
    };
    // A valid channel header in an fd that can still be resized.
    auto with_header = [&](int fd) {
        REQUIRE(::ftruncate(fd, static_cast<off_t>(bytes)) == 0);
        void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        REQUIRE(m != MAP_FAILED);
        que::detail::initialize(m, spec, 4096, 1);
        ::munmap(m, bytes);
        return fd;
    };
    SECTION("memfd without MFD_ALLOW_SEALING") {
        expect(with_header(::memfd_create("t", MFD_CLOEXEC)), que::errc::unsealed_fd);
    }
    SECTION("sealable memfd, no seals") {
        expect(with_header(::memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING)), que::errc::unsealed_fd);
    }
    SECTION("only F_SEAL_SHRINK (it can still grow)") {
        const int fd = with_header(::memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING));
        REQUIRE(::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0);
        expect(fd, que::errc::unsealed_fd);
    }
    SECTION("a named /dev/shm segment's descriptor") {
        const std::string name = shm_test::unique_name("notmemfd");
        name_guard guard(que::shm{name});
        { auto tx = que::spsc::producer<msg8, 64>::open(que::shm{name}); }
        expect(::open(dev_shm(name).c_str(), O_RDWR | O_CLOEXEC), que::errc::unsealed_fd);
    }
    SECTION("a pipe") {
        int p[2];
        REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
        ::close(p[1]);
        expect(p[0], que::errc::not_a_regular_file);
    }
    SECTION("a sealed memfd of garbage") {
        const int fd = ::memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        REQUIRE(::ftruncate(fd, static_cast<off_t>(bytes)) == 0);
        REQUIRE(::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
        expect(fd, que::errc::not_ready);  // state 0: never initialised (no creator will come)
    }
    SECTION("no descriptor at all (a failed receive_fd's -1): an error, not a fresh ring") {
        auto seg = que::memfd::from_fd(-1);
        std::error_code ec;
        auto rx = que::spsc::consumer<msg8, 64>::open(seg, ec);
        CHECK(ec == std::errc::bad_file_descriptor);
        CHECK_FALSE(rx);
        CHECK(seg.fd() == -1);
    }
    SECTION("receive_fd on a message without a descriptor") {
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        REQUIRE(::write(sv[0], "x", 1) == 1);
        std::error_code ec;
        CHECK(que::receive_fd(sv[1], ec) == -1);
        CHECK(ec == std::errc::bad_message);
        ::close(sv[0]);
        CHECK(que::receive_fd(sv[1], ec) == -1);
        CHECK(ec == std::errc::connection_aborted);
        ::close(sv[1]);
    }
}

TEST_CASE("memfd: an spmc consumer maps a memfd read-only", "[memfd][trust][spmc]") {
    que::memfd seg;
    auto tx = que::spmc::producer<msg8, 64>::open(seg);
    auto rx = que::spmc::consumer<msg8, 64>::open(seg);
    CHECK(maps_perms(rx.metadata().data()) == "r--s");
    CHECK(kernel_store_faults(rx.metadata().data()));
    tx.push(msg8::make(9));
    msg8 m{};
    REQUIRE(rx.try_pop(m));
    CHECK(m.seq() == 9);
}

TEST_CASE("memfd: a subscriber given read_only_fd() can read the ring and nothing else", "[memfd][trust][spmc]") {
    que::memfd seg;
    auto tx = que::spmc::producer<msg8, 64>::open(seg);
    const int ro = seg.read_only_fd();
    REQUIRE(ro >= 0);
    // With that descriptor: no write access to the file at all.
    struct stat st {};
    REQUIRE(::fstat(ro, &st) == 0);
    CHECK(::ftruncate(ro, 0) != 0);
    CHECK(::write(ro, "x", 1) < 0);
    CHECK(::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) ==
          MAP_FAILED);
    auto sub = que::memfd::from_fd(ro);
    std::error_code ec;
    auto w = que::spsc::producer<msg8, 64>::open(sub, ec);  // a writer's attach: refused
    CHECK(ec == que::errc::permission_denied);
    auto stx = que::spmc::producer<msg8, 64>::open(sub, ec);
    CHECK(ec == que::errc::permission_denied);
    auto rx = que::spmc::consumer<msg8, 64>::open(sub, ec);  // a reader's: fine
    REQUIRE_FALSE(ec);
    CHECK(maps_perms(rx.metadata().data()) == "r--s");
    que_test::sequence_checker check;
    msg8 m{};
    for (std::uint64_t i = 0; i < 50; ++i) {
        tx.push(msg8::make(i));
        REQUIRE(rx.try_pop(m));
        check.feed(m);
    }
    INFO(check);
    CHECK(check.perfect(50));
}
