// tests/shm/messages.cpp — what a user reads when setup fails (issue 13,
// point 6): every setup error's what() names the call, the channel, what was
// expected and what was found, and points at the fix. The texts are the
// point, so most are compared whole. Also: a leading '/' in a name.
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include <catch2/catch.hpp>
#include <que/spmc.hpp>
#include <que/spsc.hpp>

#include "shm_support.hpp"

namespace que_msg_test {
namespace a {
struct tick {
    std::uint64_t v;
};
} // namespace a
namespace b {
struct tick {  // the same struct in another namespace
    std::uint64_t v;
};
} // namespace b
struct wide {
    std::uint64_t v[2];
};
namespace c {
struct tagged {
    std::uint64_t v;
};
} // namespace c
namespace d {
struct tagged {
    std::uint64_t v;
};
} // namespace d
} // namespace que_msg_test

// The fix the type-tag message points at: one explicit tag in both programs.
template <>
struct que::type_tag<que_msg_test::c::tagged> : std::integral_constant<std::uint64_t, 42> {};
template <>
struct que::type_tag<que_msg_test::d::tagged> : std::integral_constant<std::uint64_t, 42> {};

namespace {

using namespace que_msg_test;
using shm_test::name_guard;

// The what() of the exception `f` throws (and that it is a std::system_error
// carrying `want`); "" if it throws nothing.
template <class F>
std::string what_of(que::errc want, F&& f) {
    try {
        f();
    } catch (const std::system_error& e) {
        CHECK(e.code() == want);
        return e.what();
    }
    FAIL_CHECK("no exception");
    return {};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST_CASE("setup message: capacity mismatch names the channel, both capacities and the fix", "[shm][errors][messages]") {
    const std::string name = shm_test::unique_name("msgcap");
    name_guard guard(que::shm{name});
    auto tx = que::spmc::producer<a::tick, 4096>::open(que::shm{name});
    const std::string w = what_of(que::errc::wrong_capacity, [&] { que::spmc::consumer<a::tick, 1024>::open(que::shm{name}); });
    INFO(w);
    CHECK(w == "que::spmc::consumer<que_msg_test::a::tick, 1024>::open(\"" + name +
                   "\"): capacity mismatch: the segment holds 4096 slots, this handle expects 1024 (both sides must "
                   "use the same N)");
    // The error_code overload still carries only the code.
    std::error_code ec;
    auto rx = que::spmc::consumer<a::tick, 1024>::open(que::shm{name}, ec);
    CHECK(ec == que::errc::wrong_capacity);
    CHECK(ec.message() == "capacity mismatch");
}

TEST_CASE("setup message: element size and kind mismatches say what each side has", "[shm][errors][messages]") {
    const std::string name = shm_test::unique_name("msgsize");
    name_guard guard(que::shm{name});
    auto rx = que::spsc::consumer<a::tick, 64>::open(que::shm{name});
    const std::string size = what_of(que::errc::wrong_element_size, [&] { que::spsc::producer<wide, 64>::open(que::shm{name}); });
    INFO(size);
    CHECK(size == "que::spsc::producer<que_msg_test::wide, 64>::open(\"" + name +
                      "\"): element size mismatch: the segment holds elements of 8 bytes, this handle's T "
                      "(que_msg_test::wide) is 16 bytes (both sides must use the same T)");
    const std::string kind = what_of(que::errc::wrong_kind, [&] { que::spmc::producer<a::tick, 64>::open(que::shm{name}); });
    INFO(kind);
    CHECK(kind == "que::spmc::producer<que_msg_test::a::tick, 64>::open(\"" + name +
                      "\"): channel kind mismatch (spsc vs spmc): the segment is an spsc channel, this handle is spmc "
                      "(one name is one channel of one kind: use the same kind on both sides, or another name)");
}

TEST_CASE("setup message: a type tag mismatch explains the name difference and the explicit tag", "[shm][errors][messages]") {
    const std::string name = shm_test::unique_name("msgtag");
    name_guard guard(que::shm{name});
    auto tx = que::spsc::producer<a::tick, 64>::open(que::shm{name});
    const std::string w = what_of(que::errc::wrong_type_tag, [&] { que::spsc::consumer<b::tick, 64>::open(que::shm{name}); });
    INFO(w);
    CHECK(contains(w, "que::spsc::consumer<que_msg_test::b::tick, 64>::open(\"" + name + "\"): element type tag mismatch: "));
    CHECK(contains(w, "has the size (8) and alignment (8) of this handle's T (que_msg_test::b::tick) but another type tag"));
    CHECK(contains(w, "the types differ by name (the same struct in another namespace"));
    CHECK(contains(w, "template <> struct que::type_tag<que_msg_test::b::tick> : std::integral_constant<std::uint64_t, 42> {};"));
    // And the advice works: two such types with one explicit tag are one channel.
    const std::string tagged = shm_test::unique_name("msgtagged");
    name_guard guard2(que::shm{tagged});
    auto ctx = que::spsc::producer<c::tagged, 64>::open(que::shm{tagged});
    auto drx = que::spsc::consumer<d::tagged, 64>::open(que::shm{tagged});
    REQUIRE(ctx.try_push(c::tagged{7}));
    d::tagged got{};
    REQUIRE(drx.try_pop(got));
    CHECK(got.v == 7);
}

TEST_CASE("setup message: a second producer in this process is told it is this process", "[shm][errors][messages]") {
    const std::string name = shm_test::unique_name("msgrole");
    name_guard guard(que::shm{name});
    auto tx = que::spsc::producer<a::tick, 64>::open(que::shm{name});
    const std::string self = std::to_string(::getpid());
    const std::string w = what_of(que::errc::role_taken, [&] { que::spsc::producer<a::tick, 64>::open(que::shm{name}); });
    INFO(w);
    CHECK(w == "que::spsc::producer<que_msg_test::a::tick, 64>::open(\"" + name +
                   "\"): this side of the channel is already held by a live handle (another process's, or one of this "
                   "process's): this process already holds the producer side (pid " + self +
                   "): a side has one handle at a time; move the handle you have instead of opening another");
    auto rx = que::spsc::consumer<a::tick, 64>::open(que::shm{name});
    const std::string c = what_of(que::errc::role_taken, [&] { que::spsc::consumer<a::tick, 64>::open(que::shm{name}); });
    CHECK(contains(c, "this process already holds the consumer side (pid " + self + ")"));
    const std::string m = what_of(que::errc::role_taken, [&] { que::spsc::make<a::tick, 64>(que::shm{name}); });
    CHECK(contains(m, "que::spsc::make<que_msg_test::a::tick, 64>(\"" + name + "\"): "));
    CHECK(contains(m, "this process already holds the producer side"));
}

TEST_CASE("setup message: a producer held by another process names that process", "[shm][errors][messages]") {
    const std::string name = shm_test::unique_name("msgrole2");
    name_guard guard(que::shm{name});
    int ready[2], release[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(release) == 0);
    shm_test::child holder([&] {
        ::close(release[1]);  // or our own copy would keep the parent's close from ending the read
        std::error_code ec;
        auto tx = que::spmc::producer<a::tick, 64>::open(que::shm{name}, ec);
        const char ok = ec ? 'e' : 'k';
        if (::write(ready[1], &ok, 1) != 1) return 2;
        char c;
        return ::read(release[0], &c, 1) >= 0 ? 0 : 3;  // hold the role until the parent is done
    });
    char ok = 0;
    REQUIRE(::read(ready[0], &ok, 1) == 1);
    REQUIRE(ok == 'k');
    const std::string w = what_of(que::errc::role_taken, [&] { que::spmc::producer<a::tick, 64>::open(que::shm{name}); });
    INFO(w);
    CHECK(contains(w, "another live process (pid " + std::to_string(holder.pid()) +
                          ") holds the producer side: stop it first (a dead holder's side is taken over)"));
    ::close(release[1]);
    CHECK(holder.exit_code() == 0);
    for (int fd : {ready[0], ready[1], release[0]}) ::close(fd);
}

TEST_CASE("setup message: invalid spmc options are errc::invalid_options naming the values given", "[spmc][errors][messages]") {
    const std::string name = shm_test::unique_name("msgopt");
    name_guard guard(que::shm{name});
    std::error_code ec;
    auto none = que::spmc::consumer<a::tick, 64>::open(que::shm{name}, {.stride = 0}, ec);
    CHECK(ec == que::errc::invalid_options);
    CHECK(ec == std::errc::invalid_argument);
    const std::string zero = what_of(que::errc::invalid_options, [&] { que::spmc::consumer<a::tick, 64>::open(que::shm{name}, {.stride = 0}); });
    CHECK(zero == "que::spmc::consumer<que_msg_test::a::tick, 64>::open(\"" + name +
                      "\"): invalid consumer options (stride must be >= 1 and offset < stride): stride 0 given (stride "
                      "must be >= 1; 1 = every message)");
    auto ends = que::spmc::make<a::tick, 64>();  // not a structured binding: clang 14 cannot capture one
    auto& tx = ends.first;
    const std::string off = what_of(que::errc::invalid_options, [&] { tx.subscribe({.stride = 2, .offset = 3}); });
    CHECK(off == "que::spmc::subscribe<que_msg_test::a::tick, 64>(): invalid consumer options (stride must be >= 1 and "
                 "offset < stride): offset 3 given with stride 2 (offset must be < stride: consumers with offsets 0..1 "
                 "split the stream)");
    const std::string made = what_of(que::errc::invalid_options, [&] { que::spmc::make<a::tick, 64>(que::heap{}, {.stride = 0}); });
    CHECK(contains(made, "que::spmc::make<que_msg_test::a::tick, 64>(): invalid consumer options"));
}

TEST_CASE("setup message: names, and where que looked", "[shm][errors][messages]") {
    const std::string bad = what_of(que::errc::invalid_name, [&] { que::spsc::consumer<a::tick, 64>::open(que::shm{"a/b"}); });
    CHECK(contains(bad, "open(\"a/b\"): invalid channel name"));
    CHECK(contains(bad, "a leading '/' is allowed and ignored: \"/m3\" is \"m3\""));

    const std::string name = shm_test::unique_name("msgnf");
    name_guard guard(que::shm{name});
    const std::string nf = what_of(que::errc::not_found, [&] {
        que::spsc::consumer<a::tick, 64>::open(que::shm{name, {.mode = que::open_mode::open}});
    });
    CHECK(nf == "que::spsc::consumer<que_msg_test::a::tick, 64>::open(\"" + name +
                    "\"): no such shared channel: no segment at /dev/shm/" + name +
                    " (4 KiB pages): open_mode::open only joins; start the creating side first, or use "
                    "open_mode::open_or_create");
    auto rx = que::spsc::consumer<a::tick, 64>::open(que::shm{name});
    const std::string ex = what_of(que::errc::already_exists, [&] {
        que::spsc::producer<a::tick, 64>::open(que::shm{name, {.mode = que::open_mode::create}});
    });
    CHECK(contains(ex, "/dev/shm/" + name + " (4 KiB pages) exists: open_mode::create only creates"));
}

TEST_CASE("shm names: \"/m3\" and \"m3\" are one channel", "[shm][names]") {
    const std::string name = shm_test::unique_name("slash");
    name_guard guard(que::shm{name});
    auto tx = que::spsc::producer<a::tick, 64>::open(que::shm{"/" + name});
    CHECK(shm_test::exists_in_dev_shm(name));
    auto rx = que::spsc::consumer<a::tick, 64>::open(que::shm{name, {.mode = que::open_mode::open}});
    for (std::uint64_t i = 0; i < 10; ++i) REQUIRE(tx.try_push(a::tick{i}));
    for (std::uint64_t i = 0; i < 10; ++i) {
        a::tick got{};
        REQUIRE(rx.try_pop(got));
        CHECK(got.v == i);
    }
    // shm_remove takes the same spelling.
    CHECK(que::shm_remove("/" + name));
    CHECK_FALSE(shm_test::exists_in_dev_shm(name));
}

} // namespace
