// que-inspect on live segments, dead peers, garbage and missing names.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <que/backing/shm.hpp>
#include <que/spmc.hpp>

#include "support.hpp"

using namespace que_test;

namespace {

struct run_result {
    int exit_code = -1;
    std::string output;  // stdout and stderr
};

run_result inspect(const std::string& args) {
    run_result r;
    const std::string cmd = std::string(QUE_INSPECT_PATH) + " " + args + " 2>&1";
    FILE* f = ::popen(cmd.c_str(), "r");
    REQUIRE(f != nullptr);
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) r.output.append(buf, n);
    const int st = ::pclose(f);
    if (WIFEXITED(st)) r.exit_code = WEXITSTATUS(st);
    return r;
}

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

struct scoped_name {
    std::string name;
    explicit scoped_name(const char* what) : name(unique_name(what)) { remove(); }
    ~scoped_name() { remove(); }
    void remove() const {
        std::error_code ec;
        que::shm_remove(name, ec);
    }
};

// Writes `bytes` of `fill` as /dev/shm/<name>.
void write_file(const std::string& name, std::size_t bytes, unsigned char fill) {
    const std::string path = "/dev/shm/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    for (std::size_t i = 0; i < bytes; ++i) std::fputc(fill, f);
    std::fclose(f);
}

} // namespace

TEST_CASE("que-inspect describes a live spsc channel", "[wait][inspect]") {
    scoped_name n("inspect-live");
    auto tx = que::spsc::producer<msg, 16, que::wait::sleep>::open(que::shm{n.name});
    auto rx = que::spsc::consumer<msg, 16>::open(que::shm{n.name});
    for (std::uint64_t i = 0; i < 7; ++i) REQUIRE(tx.try_push(make_msg(i)));
    msg m{};
    // 4 single pops: a capacity-16 consumer returns slots in groups of 16/4.
    for (int i = 0; i < 4; ++i) REQUIRE(rx.try_pop(m));
    const run_result r = inspect(n.name);
    INFO(r.output);
    CHECK(r.exit_code == 0);
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
    CHECK(contains(r.output, "producer:         pid " + me + " (alive), closed no"));
    CHECK(contains(r.output, "wakes sleepers yes"));
    CHECK(contains(r.output, "consumer:         pid " + me + " (alive), closed no"));
    // Also by "/name", and it changed nothing: the channel still works.
    CHECK(inspect("/" + n.name).exit_code == 0);
    REQUIRE(rx.try_pop(m));
    CHECK(m.seq == 4);
    tx.close();
    CHECK(contains(inspect(n.name).output, "closed yes"));
}

TEST_CASE("que-inspect reports a killed peer as dead", "[wait][inspect][process]") {
    scoped_name n("inspect-dead");
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child == 0) {
        std::error_code ec;
        auto tx = que::spsc::producer<msg, 8>::open(que::shm{n.name}, ec);
        if (ec) ::_exit(2);
        tx.try_push(make_msg(0));
        for (;;) ::pause();
    }
    REQUIRE(child > 0);
    auto rx = que::spsc::consumer<msg, 8>::open(que::shm{n.name});
    const bool joined = eventually([&] { return rx.peer_alive(); });
    ::kill(child, SIGKILL);
    int st = 0;
    ::waitpid(child, &st, 0);
    REQUIRE(joined);
    const run_result r = inspect(n.name);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.output, "producer:         pid " + std::to_string(child) + " (dead)"));
    CHECK(contains(r.output, "consumer:         pid " + std::to_string(::getpid()) + " (alive)"));
}

TEST_CASE("que-inspect refuses what is not a que segment", "[wait][inspect]") {
    scoped_name n("inspect-bad");
    SECTION("no such name") {
        const run_result r = inspect(n.name);
        INFO(r.output);
        CHECK(r.exit_code == 2);
        CHECK(contains(r.output, "no que channel named"));
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
    SECTION("a real segment cut short") {
        {
            auto tx = que::spsc::producer<msg, 1024>::open(que::shm{n.name});
        }
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
    }
}

TEST_CASE("que-inspect describes a live spmc ring", "[wait][inspect]") {
    scoped_name n("inspect-spmc");
    auto tx = que::spmc::producer<msg, 32>::open(que::shm{n.name});
    for (std::uint64_t i = 0; i < 40; ++i) tx.push(make_msg(i));
    tx.flush();
    const run_result r = inspect(n.name);
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.output, "kind:             spmc"));
    CHECK(contains(r.output, "capacity:         32 messages"));
    CHECK(contains(r.output, "producer position: 40 messages published (the last 32 readable)"));
    CHECK(contains(r.output, "producer:         pid " + std::to_string(::getpid()) + " (alive)"));
    CHECK_FALSE(contains(r.output, "read index"));
}
