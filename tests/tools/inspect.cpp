// que-inspect as a user runs it: describing live segments, dead peers,
// garbage, hostile headers and a file truncated under it; finding a name on
// any hugetlbfs mount; listing every segment; removing stale ones. Each test
// checks the text the user reads.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <que/que.hpp>

#include "../shm/shm_support.hpp"
#include "hugepage_pool.hpp"
#include "skip.hpp"

namespace {

using shm_test::child;
using shm_test::name_guard;

struct msg {
    std::uint64_t seq;
    std::uint64_t check;
};
constexpr msg make_msg(std::uint64_t seq) noexcept { return {seq, seq ^ 0x9e3779b97f4a7c15ull}; }

struct run_result {
    int exit_code = -1;  // or 1000 + signal
    std::string output;  // stdout and stderr
};

run_result finish(FILE* f, run_result r) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) r.output.append(buf, n);
    const int st = ::pclose(f);
    if (WIFEXITED(st)) r.exit_code = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) r.exit_code = 1000 + WTERMSIG(st);
    return r;
}

run_result inspect(const std::string& args) {
    const std::string cmd = std::string(QUE_INSPECT_PATH) + " " + args + " 2>&1";
    FILE* f = ::popen(cmd.c_str(), "r");
    REQUIRE(f != nullptr);
    return finish(f, {});
}

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// The whitespace-separated fields of the --list row for `name` in `dir`
// (empty if there is none).
std::vector<std::string> row(const std::string& output, const std::string& name, const std::string& dir) {
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::vector<std::string> f;
        std::string w;
        while (fields >> w) f.push_back(w);
        if (f.size() == 10 && f[0] == name && f[1] == dir) return f;
    }
    return {};
}

// Names of this test process: "que-inspect-<pid>-<what>", matched by prefix().
std::string prefix() { return "que-inspect-" + std::to_string(::getpid()) + "-"; }
std::string name_of(const char* what) { return prefix() + what; }
std::string match_mine() { return "--match '" + prefix() + "*'"; }

struct scoped_name {
    std::string name;
    explicit scoped_name(const char* what) : name(name_of(what)) { remove(); }
    ~scoped_name() { remove(); }
    void remove() const { ::unlink(("/dev/shm/" + name).c_str()); }
};

// Writes `bytes` of `fill` as /dev/shm/<name>.
void write_file(const std::string& name, std::size_t bytes, unsigned char fill) {
    const std::string path = "/dev/shm/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    for (std::size_t i = 0; i < bytes; ++i) std::fputc(fill, f);
    std::fclose(f);
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// A child that signals once it is ready (a byte on a pipe) and then waits to
// be killed or released.
class ready_pipe {
public:
    ready_pipe() { REQUIRE(::pipe(fds_) == 0); }
    ~ready_pipe() {
        ::close(fds_[0]);
        ::close(fds_[1]);
    }
    void signal_in_child() {
        const char c = 'r';
        [[maybe_unused]] const ssize_t n = ::write(fds_[1], &c, 1);
    }
    bool wait_in_parent() {
        char c;
        ssize_t n;
        while ((n = ::read(fds_[0], &c, 1)) < 0 && errno == EINTR) {
        }
        return n == 1;
    }

private:
    int fds_[2] = {-1, -1};
};

} // namespace

TEST_CASE("que-inspect describes a live spsc channel", "[tools][inspect]") {
    scoped_name n("live");
    auto tx = que::spsc::producer<msg, 16, que::wait::sleep>::open(que::shm{n.name});
    auto rx = que::spsc::consumer<msg, 16>::open(que::shm{n.name});
    for (std::uint64_t i = 0; i < 7; ++i) REQUIRE(tx.try_push(make_msg(i)));
    msg m{};
    // 4 single pops: a capacity-16 consumer returns slots in groups of 16/4.
    for (int i = 0; i < 4; ++i) REQUIRE(rx.try_pop(m));
    const run_result r = inspect(n.name);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.output, "que channel \"" + n.name + "\" (/dev/shm/" + n.name + ")"));
    CHECK(contains(r.output, "kind:             spsc"));
    CHECK(contains(r.output, "format version:   " + std::to_string(que::detail::format_version)));
    CHECK(contains(r.output, "state:            ready"));
    CHECK(contains(r.output, "element size:     16 bytes"));
    CHECK(contains(r.output, "alignment:        8 bytes"));
    CHECK(contains(r.output, "capacity:         16 messages"));
    CHECK(contains(r.output, "page size:        4 KiB"));
    CHECK(contains(r.output, "write index:      7\n"));
    CHECK(contains(r.output, "read index:       4\n"));
    CHECK(contains(r.output, "fill level:       3 / 16"));
    const std::string me = std::to_string(::getpid());
    CHECK(contains(r.output, "producer:         pid " + me + " (alive), closed no, heartbeat 0 (not waiting)"));
    CHECK(contains(r.output, "wakes sleepers yes"));
    CHECK(contains(r.output, "consumer:         pid " + me + " (alive), closed no"));
    // Only this process maps it (and maybe processes whose maps are unreadable).
    CHECK((contains(r.output, "mapped by:        pids " + me + "\n") ||
           contains(r.output, "mapped by:        pids " + me + " (and maybe some of pids ")));
    CHECK(contains(r.output, "liveness:         live"));
    // Also by "/name", and it changed nothing: the channel still works.
    CHECK(inspect("/" + n.name).exit_code == 0);
    REQUIRE(rx.try_pop(m));
    CHECK(m.seq == 4);
    tx.close();
    CHECK(contains(inspect(n.name).output, "closed yes"));
}

TEST_CASE("que-inspect shows the heartbeat of a side that is waiting now", "[tools][inspect]") {
    scoped_name n("heartbeat");
    auto tx = que::spsc::producer<msg, 16>::open(que::shm{n.name});
    auto rx = que::spsc::consumer<msg, 16, que::wait::sleep>::open(que::shm{n.name});  // sleeps: no busy core
    // The consumer waits (pop on an empty ring) until the test pushes.
    msg got{};
    que::status st = que::status::timeout;
    std::thread waiter([&] { st = rx.pop_for(got, std::chrono::seconds(60)); });
    // Its heartbeat moves every check_every (20 ms) while it waits.
    const auto* cons = que::detail::consumer_of(tx.metadata().data() - que::detail::metadata_offset);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (cons->heartbeat.load() < 2 && std::chrono::steady_clock::now() < deadline) ::usleep(1000);
    const run_result waiting = inspect(n.name);
    REQUIRE(tx.try_push(make_msg(42)));
    waiter.join();
    REQUIRE(st == que::status::ok);
    CHECK(got.seq == 42);
    INFO(waiting.output);
    CHECK(waiting.exit_code == 0);
    CHECK(contains(waiting.output, "consumer:         pid " + std::to_string(::getpid()) + " (alive), closed no, heartbeat "));
    CHECK(contains(waiting.output, "(waiting now: +"));
    // Once it got its message it no longer waits: the heartbeat stands still.
    const run_result idle = inspect(n.name);
    INFO(idle.output);
    CHECK_FALSE(contains(idle.output, "(waiting now: +"));
    CHECK(contains(idle.output, "(not waiting), producer asleep no"));
}

TEST_CASE("que-inspect reports a killed peer as dead", "[tools][inspect][process]") {
    scoped_name n("dead");
    ready_pipe ready;
    child producer([&] {
        std::error_code ec;
        auto tx = que::spsc::producer<msg, 8>::open(que::shm{n.name}, ec);
        if (ec) return 2;
        tx.try_push(make_msg(0));
        ready.signal_in_child();
        for (;;) ::pause();
    });
    REQUIRE(ready.wait_in_parent());
    auto rx = que::spsc::consumer<msg, 8>::open(que::shm{n.name});
    const pid_t pid = producer.pid();
    ::kill(pid, SIGKILL);
    producer.wait();
    const run_result r = inspect(n.name);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.output, "producer:         pid " + std::to_string(pid) + " (dead)"));
    CHECK(contains(r.output, "consumer:         pid " + std::to_string(::getpid()) + " (alive)"));
}

TEST_CASE("que-inspect refuses what is not a que segment", "[tools][inspect]") {
    scoped_name n("bad");
    SECTION("no such name") {
        const run_result r = inspect(n.name);
        INFO(r.output);
        CHECK(r.exit_code == 2);
        CHECK(contains(r.output, "no que channel named \"" + n.name + "\" (looked in /dev/shm"));
    }
    SECTION("garbage") {
        write_file(n.name, 8192, 0xa5);
        const run_result r = inspect(n.name);
        INFO(r.output);
        CHECK(r.exit_code == 3);
        CHECK(contains(r.output, "not a que segment: bad magic"));
    }
    SECTION("too small for a header") {
        write_file(n.name, 100, 0);
        const run_result r = inspect(n.name);
        INFO(r.output);
        CHECK(r.exit_code == 3);
        CHECK(contains(r.output, "truncated"));
    }
    SECTION("empty file") {
        write_file(n.name, 0, 0);
        const run_result r = inspect(n.name);
        INFO(r.output);
        CHECK(r.exit_code == 3);
        CHECK(contains(r.output, "truncated"));
    }
    SECTION("a FIFO (opening it must not block)") {
        REQUIRE(::mkfifo(("/dev/shm/" + n.name).c_str(), 0600) == 0);
        const run_result r = inspect(n.name);
        INFO(r.output);
        CHECK(r.exit_code == 3);
        CHECK(contains(r.output, "not a que segment: not a regular file"));
    }
    SECTION("a real segment cut short") {
        { auto tx = que::spsc::producer<msg, 1024>::open(que::shm{n.name}); }
        const std::string path = "/dev/shm/" + n.name;
        REQUIRE(::truncate(path.c_str(), 4096) == 0);
        const run_result r = inspect(n.name);
        INFO(r.output);
        CHECK(r.exit_code == 3);
        CHECK(contains(r.output, "truncated (smaller than its header says)"));
    }
    SECTION("an invalid name or no name") {
        CHECK(inspect("a/b").exit_code == 1);
        CHECK(inspect("").exit_code == 1);
        CHECK(inspect("x --bogus").exit_code == 1);
        CHECK(inspect("--list x").exit_code == 1);
        CHECK(inspect("--dry-run").exit_code == 1);
    }
}

// Issue 11 point 20: slot_size * capacity was computed unchecked, so a 4 KiB
// file claiming 2^40 slots of 4 GiB (the product wraps to 0) printed as a
// valid channel.
TEST_CASE("que-inspect reports a header whose sizes overflow as corrupt", "[tools][inspect]") {
    scoped_name n("overflow");
    shm_test::raw_segment raw(n.name, 4096);
    REQUIRE(raw.base() != nullptr);
    que::detail::header* h = raw.header();
    h->version = que::detail::format_version;
    h->kind = static_cast<std::uint32_t>(que::detail::channel_kind::spsc);
    h->element_size = std::uint64_t{1} << 32;
    h->element_align = 8;
    h->capacity = std::uint64_t{1} << 40;
    h->slot_size = std::uint64_t{1} << 32;
    h->slots_offset = que::detail::slots_offset;
    h->segment_size = que::detail::slots_offset;  // what the wrapped product gives
    h->page_size = 4096;
    h->magic = que::detail::format_magic;
    h->state.store(static_cast<std::uint32_t>(que::detail::init_state::ready));
    const run_result r = inspect(n.name);
    INFO(r.output);
    CHECK(r.exit_code == 3);
    CHECK(contains(r.output, "is not a que segment: corrupt header (slot size x capacity overflows)"));
    CHECK_FALSE(contains(r.output, "kind:"));
    // --list shows it as a broken que segment, not as a channel.
    const run_result l = inspect("--list " + match_mine());
    INFO(l.output);
    const auto f = row(l.output, n.name, "/dev/shm");
    REQUIRE(f.size() == 10);
    CHECK(f[2] == "?");
    CHECK(f[9] == "corrupt:corrupt_header_(slot_size_x_capacity_overflows)");
}

// Issue 11 point 20: a mapping of the file faults (SIGBUS) when a peer
// truncates it between the size check and the read. The test hook stops
// que-inspect right after its fstat; the test truncates the file, then lets
// it go on: it must report the truncation, not die of a signal.
TEST_CASE("que-inspect survives a peer truncating the segment under it", "[tools][inspect]") {
    scoped_name n("truncating");
    { auto tx = que::spsc::producer<msg, 1024>::open(que::shm{n.name}); }
    int to_test[2], to_tool[2];
    REQUIRE(::pipe2(to_test, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(to_tool, O_CLOEXEC) == 0);
    const std::string cmd = "QUE_INSPECT_TEST_SYNC_FDS=8,9 " + std::string(QUE_INSPECT_PATH) + " " + n.name +
                            " 8>&" + std::to_string(to_test[1]) + " 9<&" + std::to_string(to_tool[0]) + " 2>&1";
    // popen's shell inherits the pipe ends only without O_CLOEXEC.
    ::fcntl(to_test[1], F_SETFD, 0);
    ::fcntl(to_tool[0], F_SETFD, 0);
    FILE* f = ::popen(cmd.c_str(), "r");
    REQUIRE(f != nullptr);
    ::close(to_test[1]);
    ::close(to_tool[0]);
    char c = 0;
    const bool paused = ::read(to_test[0], &c, 1) == 1;  // EOF: it exited without stopping at the hook
    if (paused) {
        REQUIRE(::truncate(("/dev/shm/" + n.name).c_str(), 0) == 0);
        // Not a SIGPIPE for this test if the tool is gone by now.
        const auto old = ::signal(SIGPIPE, SIG_IGN);
        CHECK(::write(to_tool[1], "g", 1) == 1);
        ::signal(SIGPIPE, old);
    }
    ::close(to_tool[1]);
    const run_result r = finish(f, {});
    ::close(to_test[0]);
    INFO(r.output);
    REQUIRE(paused);
    CHECK(r.exit_code == 3);
    CHECK(contains(r.output, "truncated while being read (a peer shrank the file)"));
}

TEST_CASE("que-inspect describes a live spmc ring and the processes consuming it", "[tools][inspect][process]") {
    scoped_name n("spmc");
    auto tx = que::spmc::producer<msg, 32>::open(que::shm{n.name});
    for (std::uint64_t i = 0; i < 40; ++i) tx.push(make_msg(i));
    tx.flush();
    // A consumer in another process: it records nothing in the segment, but
    // it maps it.
    ready_pipe ready;
    shm_test::start_gate done;
    child consumer([&] {
        std::error_code ec;
        auto rx = que::spmc::consumer<msg, 32>::open(que::shm{n.name}, ec);
        if (ec) return 2;
        ready.signal_in_child();
        done.wait_in_child();
        return 0;
    });
    REQUIRE(ready.wait_in_parent());
    const run_result r = inspect(n.name);
    done.open();
    CHECK(consumer.exit_code() == 0);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    const std::string me = std::to_string(::getpid()), them = std::to_string(consumer.pid() > 0 ? consumer.pid() : 0);
    CHECK(contains(r.output, "kind:             spmc"));
    CHECK(contains(r.output, "capacity:         32 messages"));
    CHECK(contains(r.output, "producer position: 40 messages published (the last 32 readable)"));
    CHECK(contains(r.output, "producer:         pid " + me + " (alive)"));
    CHECK_FALSE(contains(r.output, "read index"));
    CHECK(contains(r.output, "consumers:        not recorded in the segment (spmc consumers write nothing to it); "
                             "processes mapping it besides the producer: "));
    CHECK(contains(r.output, "liveness:         live"));
}

TEST_CASE("que-inspect --list shows every segment with kind, size and holders", "[tools][inspect][process]") {
    scoped_name live("list-live"), idle("list-idle"), stale("list-stale"), other("list-other"), fanout("list-spmc");
    auto tx = que::spsc::producer<msg, 64>::open(que::shm{live.name});
    auto rx = que::spsc::consumer<msg, 64>::open(que::shm{live.name});
    { auto gone = que::spsc::producer<std::uint32_t, 8>::open(que::shm{idle.name}); }  // left normally
    write_file(other.name, 8192, 0x11);                                                 // somebody else's file
    // An spmc producer killed while it held its role: nobody maps the ring.
    ready_pipe ready;
    child doomed([&] {
        std::error_code ec;
        auto p = que::spmc::producer<std::uint64_t, 1024>::open(que::shm{stale.name}, ec);
        if (ec) return 2;
        p.push(1);
        ready.signal_in_child();
        for (;;) ::pause();
    });
    REQUIRE(ready.wait_in_parent());
    const pid_t dead = doomed.pid();
    ::kill(dead, SIGKILL);
    doomed.wait();
    // An spmc ring with a consumer in this process.
    auto fan_tx = que::spmc::producer<msg, 16>::open(que::shm{fanout.name});
    auto fan_rx = que::spmc::consumer<msg, 16>::open(que::shm{fanout.name});

    const run_result r = inspect("--list " + match_mine());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.output, "que segments: 4 (looked in /dev/shm"));
    CHECK(contains(r.output, "NAME"));
    CHECK(contains(r.output, "(1 other entries are not que segments)"));
    const std::string me = std::to_string(::getpid());
    // MAPPED: the processes seen mapping it ("N+" when some processes' maps
    // are unreadable, e.g. an undumpable init even to root).
    const auto mapped = [](const std::string& field) { return field.substr(0, field.find('+')); };

    auto f = row(r.output, live.name, "/dev/shm");
    REQUIRE(f.size() == 10);
    CHECK(f[2] == "spsc");
    CHECK(f[3] == "16B");
    CHECK(f[4] == "64");
    CHECK(f[5] == "4KiB");
    CHECK(f[6] == me + ":alive");
    CHECK(f[7] == me + ":alive");
    CHECK(mapped(f[8]) == "1");
    CHECK(f[9] == "live");

    f = row(r.output, idle.name, "/dev/shm");
    REQUIRE(f.size() == 10);
    CHECK(f[3] == "4B");
    CHECK(f[6] == "none");
    CHECK(f[7] == "none");
    CHECK(mapped(f[8]) == "0");
    CHECK(f[9] == "idle");

    f = row(r.output, stale.name, "/dev/shm");
    REQUIRE(f.size() == 10);
    CHECK(f[2] == "spmc");
    CHECK(f[3] == "8B");
    CHECK(f[4] == "1024");
    CHECK(f[5] == "20KiB");
    CHECK(f[6] == std::to_string(dead) + ":dead");
    CHECK(f[7] == "mapped:none");
    CHECK(mapped(f[8]) == "0");
    CHECK(f[9] == "stale");

    f = row(r.output, fanout.name, "/dev/shm");
    REQUIRE(f.size() == 10);
    CHECK(f[6] == me + ":alive");
    CHECK(f[7] == "mapped:none");  // its consumer is the producer's own process
    CHECK(f[9] == "live");

    CHECK(row(r.output, other.name, "/dev/shm").empty());  // not ours: not listed
}

TEST_CASE("que-inspect --remove-stale removes only que segments whose holders all died", "[tools][inspect][process]") {
    scoped_name live("rm-live"), idle("rm-idle"), stale("rm-stale"), other("rm-other"), broken("rm-broken");
    auto rx = que::spsc::consumer<msg, 8>::open(que::shm{live.name});
    { auto gone = que::spsc::producer<msg, 8>::open(que::shm{idle.name}); }
    write_file(other.name, 8192, 0x11);
    {
        // A que-magic file whose header is broken: never judged, never removed.
        shm_test::raw_segment raw(broken.name, 4096);
        raw.header()->magic = que::detail::format_magic;
        raw.header()->version = que::detail::format_version;
    }
    ready_pipe ready;
    child doomed([&] {
        std::error_code ec;
        auto tx = que::spsc::producer<msg, 8>::open(que::shm{stale.name}, ec);
        auto crx = que::spsc::consumer<msg, 8>::open(que::shm{stale.name}, ec);
        if (ec) return 2;
        ready.signal_in_child();
        for (;;) ::pause();
    });
    REQUIRE(ready.wait_in_parent());
    const pid_t dead = doomed.pid();
    ::kill(dead, SIGKILL);
    doomed.wait();
    const std::string path = "/dev/shm/" + stale.name;

    const run_result dry = inspect("--remove-stale --dry-run " + match_mine());
    INFO(dry.output);
    CHECK(dry.exit_code == 0);
    CHECK(contains(dry.output, "would remove " + path + " (producer " + std::to_string(dead) + ":dead, consumer " +
                                   std::to_string(dead) + ":dead, mapped by no process)"));
    CHECK(exists(path));

    const run_result r = inspect("--remove-stale " + match_mine());
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.output, "removed " + path + " (producer " + std::to_string(dead) + ":dead"));
    CHECK(contains(r.output, "removed 1 stale segment; kept 1 live, 1 idle (holders left normally)"));
    CHECK_FALSE(exists(path));
    CHECK(exists("/dev/shm/" + live.name));
    CHECK(exists("/dev/shm/" + idle.name));
    CHECK(exists("/dev/shm/" + other.name));
    CHECK(exists("/dev/shm/" + broken.name));
    // Nothing stale is left: a second run removes nothing.
    CHECK(contains(inspect("--remove-stale " + match_mine()).output, "removed 0 stale segments"));
}

// Issue 13 point 8: que-inspect needed --huge-dir even for a default mount.
// Now it finds a name on every hugetlbfs mount of /proc/mounts.
TEST_CASE("que-inspect finds segments on any hugetlbfs mount without --huge-dir", "[tools][inspect][hugepages]") {
    std::string why;
    shm_test::hugetlbfs_mount mnt("2M", why);
    if (!mnt.mounted()) QUE_SKIP(why);
    que_test::hugepage_pool pool(2048);
    if (!pool.ensure_available(2, why)) QUE_SKIP(why);
    const std::string name = name_of("huge");
    que::shm where{name, {.pages = que::page_size::huge_2m, .hugetlbfs_dir = mnt.dir()}};
    name_guard guard(where);
    auto tx = que::spsc::producer<msg, 1024>::open(where);
    // The same name on standard pages: a different channel. que no longer
    // makes one (errc::exists_with_other_pages), but an older que could have:
    // made under another name and renamed into place.
    scoped_name twin("huge-twin");
    auto other = que::spsc::producer<msg, 16>::open(que::shm{twin.name});
    REQUIRE(::rename(("/dev/shm/" + twin.name).c_str(), ("/dev/shm/" + name).c_str()) == 0);
    struct unlink_at_exit {
        std::string path;
        ~unlink_at_exit() { ::unlink(path.c_str()); }
    } twin_guard{"/dev/shm/" + name};

    const run_result r = inspect(name);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.output, "note: \"" + name + "\" exists in 2 places, each a different channel: /dev/shm/" + name +
                                 ", " + mnt.dir() + "/" + name));
    CHECK(contains(r.output, "que channel \"" + name + "\" (" + mnt.dir() + "/" + name + ")"));
    CHECK(contains(r.output, "page size:        2 MiB"));
    CHECK(contains(r.output, "capacity:         1024 messages"));
    CHECK(contains(r.output, "capacity:         16 messages"));

    const run_result only = inspect(name + " --huge-dir " + mnt.dir());
    INFO(only.output);
    CHECK(only.exit_code == 0);
    CHECK_FALSE(contains(only.output, "exists in 2 places"));

    const run_result l = inspect("--list " + match_mine());
    INFO(l.output);
    const auto f = row(l.output, name, mnt.dir());
    REQUIRE(f.size() == 10);
    CHECK(f[2] == "spsc");
    CHECK(f[5] == "2MiB");
    CHECK(f[9] == "live");
    CHECK(row(l.output, name, "/dev/shm").size() == 10);
}
