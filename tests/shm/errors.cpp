// tests/shm/errors.cpp — every way joining or creating a shared channel can
// fail, each asserting its specific que::errc, through both the error_code
// overload (no throw, empty handle) and the throwing one (std::system_error
// carrying the same code).
#include <grp.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "shm_support.hpp"
#include "skip.hpp"

namespace {

using namespace std::chrono_literals;
using que_test::msg8;
using shm_test::name_guard;

struct twin8 {  // same size and alignment as msg8, a different type
    std::uint64_t word;
};
struct alignas(8) bytes8_aligned {
    char c[8];
};
struct bytes8 {  // same size as bytes8_aligned, alignment 1
    char c[8];
};

// Opens `where` as producer and as consumer of T, N, both overloads, and
// checks each fails with `want`.
template <class T, std::size_t N>
void expect_open_error(const que::shm& where, que::errc want) {
    {
        std::error_code ec;
        auto rx = que::spsc::consumer<T, N>::open(where, ec);
        CHECK(ec == want);
        CHECK(ec.category() == que::error_category());
        CHECK_FALSE(rx);
    }
    {
        std::error_code ec;
        auto tx = que::spsc::producer<T, N>::open(where, ec);
        CHECK(ec == want);
        CHECK_FALSE(tx);
    }
    try {
        auto rx = que::spsc::consumer<T, N>::open(where);
        FAIL("open did not throw");
    } catch (const std::system_error& e) {
        CHECK(e.code() == want);
    }
}

que::shm joiner(const std::string& name, std::chrono::milliseconds timeout = 2000ms) {
    return que::shm{name, {.mode = que::open_mode::open, .join_timeout = timeout}};
}

// A hand-made segment with a valid header for msg8 x 64, then `edit` applied.
template <class Edit>
void crafted(const std::string& name, Edit edit, que::detail::channel_spec spec = que::spsc::detail::spec<msg8, 64>()) {
    shm_test::raw_segment seg(name, que::detail::round_up(spec.segment_size(), 4096));
    REQUIRE(seg.base() != nullptr);
    que::detail::initialize(seg.base(), spec, 4096, static_cast<std::uint32_t>(::getpid()));
    edit(*seg.header());
}

} // namespace

TEST_CASE("shm error: wrong element size", "[shm][errors]") {
    const std::string name = shm_test::unique_name("esize");
    name_guard guard(que::shm{name});
    auto tx = que::spsc::producer<msg8, 64>::open(que::shm{name});
    expect_open_error<std::uint32_t, 64>(que::shm{name}, que::errc::wrong_element_size);
}

TEST_CASE("shm error: wrong element alignment", "[shm][errors]") {
    const std::string name = shm_test::unique_name("ealign");
    name_guard guard(que::shm{name});
    auto tx = que::spsc::producer<bytes8_aligned, 64>::open(que::shm{name});
    expect_open_error<bytes8, 64>(que::shm{name}, que::errc::wrong_element_alignment);
}

TEST_CASE("shm error: wrong capacity", "[shm][errors]") {
    const std::string name = shm_test::unique_name("ecap");
    name_guard guard(que::shm{name});
    auto tx = que::spsc::producer<msg8, 64>::open(que::shm{name});
    expect_open_error<msg8, 128>(que::shm{name}, que::errc::wrong_capacity);
    expect_open_error<msg8, 32>(que::shm{name}, que::errc::wrong_capacity);
}

TEST_CASE("shm error: wrong channel kind (an spmc segment joined as spsc)", "[shm][errors]") {
    const std::string name = shm_test::unique_name("ekind");
    name_guard guard(que::shm{name});
    auto spec = que::spsc::detail::spec<msg8, 64>();
    spec.kind = que::detail::channel_kind::spmc;
    spec.slot_size = 16;  // a sequence word + payload, as spmc lays slots out
    crafted(name, [](que::detail::header&) {}, spec);
    expect_open_error<msg8, 64>(joiner(name), que::errc::wrong_kind);
}

TEST_CASE("shm error: wrong type tag (same size and alignment, another type)", "[shm][errors]") {
    const std::string name = shm_test::unique_name("etag");
    name_guard guard(que::shm{name});
    auto tx = que::spsc::producer<msg8, 64>::open(que::shm{name});
    expect_open_error<twin8, 64>(que::shm{name}, que::errc::wrong_type_tag);
}

TEST_CASE("shm error: unknown format version", "[shm][errors]") {
    const std::string name = shm_test::unique_name("ever");
    name_guard guard(que::shm{name});
    crafted(name, [](que::detail::header& h) { h.version = que::detail::format_version + 1; });
    expect_open_error<msg8, 64>(joiner(name), que::errc::unsupported_version);
}

TEST_CASE("shm error: bad magic (garbage, or a ready state over a foreign header)", "[shm][errors]") {
    const std::string name = shm_test::unique_name("emagic");
    name_guard guard(que::shm{name});
    {
        shm_test::raw_segment seg(name, 4096);
        REQUIRE(seg.base() != nullptr);
        std::mt19937_64 rng(42);
        for (std::size_t i = 0; i < 4096 / 8; ++i) {
            const std::uint64_t v = rng();
            std::memcpy(seg.bytes() + i * 8, &v, 8);
        }
        // Garbage whose state word is no valid state: refused at once, not
        // after the join timeout.
        seg.header()->state.store(0xdeadbeef);
        const auto t0 = std::chrono::steady_clock::now();
        expect_open_error<msg8, 64>(joiner(name, 10'000ms), que::errc::bad_magic);
        CHECK(std::chrono::steady_clock::now() - t0 < 5s);
        // State says ready but the magic is wrong.
        seg.header()->state.store(2);
        expect_open_error<msg8, 64>(joiner(name), que::errc::bad_magic);
    }
}

TEST_CASE("shm error: truncated segment", "[shm][errors]") {
    const std::string name = shm_test::unique_name("etrunc");
    name_guard guard(que::shm{name});
    SECTION("smaller than a header") {
        shm_test::raw_segment seg(name, 64);
        expect_open_error<msg8, 64>(joiner(name), que::errc::truncated_segment);
    }
    SECTION("a valid header over fewer bytes than its slots need") {
        constexpr std::size_t big = 1 << 16;  // 512 KiB of slots in a 4 KiB file
        shm_test::raw_segment seg(name, 4096);
        REQUIRE(seg.base() != nullptr);
        que::detail::initialize(seg.base(), que::spsc::detail::spec<msg8, big>(), 4096, 1);
        expect_open_error<msg8, big>(joiner(name), que::errc::truncated_segment);
    }
}

TEST_CASE("shm error: header fields inconsistent with each other", "[shm][errors]") {
    const std::string name = shm_test::unique_name("ecorrupt");
    name_guard guard(que::shm{name});
    SECTION("slots where the layout says they are not") {
        crafted(name, [](que::detail::header& h) { h.slots_offset = 0; });
        expect_open_error<msg8, 64>(joiner(name), que::errc::corrupt_segment);
    }
    SECTION("a page size other than the backing's") {
        crafted(name, [](que::detail::header& h) { h.page_size = 2 << 20; });
        expect_open_error<msg8, 64>(joiner(name), que::errc::corrupt_segment);
    }
    SECTION("a file larger than the layout (a joiner would populate all of it)") {
        shm_test::raw_segment seg(name, std::size_t{64} << 20);
        REQUIRE(seg.base() != nullptr);
        que::detail::initialize(seg.base(), que::spsc::detail::spec<msg8, 64>(), 4096, 1);
        expect_open_error<msg8, 64>(joiner(name), que::errc::corrupt_segment);
    }
}

TEST_CASE("shm error: not ready in time (a live creator stuck before or during initialisation)", "[shm][errors]") {
    const std::string name = shm_test::unique_name("eready");
    name_guard guard(que::shm{name});
    const auto timeout = 100ms;
    // Each hand-made segment holds the creator's lock: its creator is alive.
    SECTION("size 0: never sized") {
        shm_test::raw_segment seg(name, 0, true);
        const auto t0 = std::chrono::steady_clock::now();
        expect_open_error<msg8, 64>(joiner(name, timeout), que::errc::not_ready);
        CHECK(std::chrono::steady_clock::now() - t0 >= 3 * timeout);  // three opens, each waited
    }
    SECTION("state 0: sized, never initialised") {
        shm_test::raw_segment seg(name, 4096, true);
        expect_open_error<msg8, 64>(joiner(name, timeout), que::errc::not_ready);
        // open_or_create finds it taken and waits as a joiner: same answer.
        expect_open_error<msg8, 64>(que::shm{name, {.join_timeout = timeout}}, que::errc::not_ready);
    }
    SECTION("state 1: initialising, never finished") {
        shm_test::raw_segment seg(name, 4096, true);
        seg.header()->state.store(1);
        expect_open_error<msg8, 64>(joiner(name, timeout), que::errc::not_ready);
    }
    // The segment was only waited on, never changed.
    struct stat st {};
    REQUIRE(::stat(("/dev/shm/" + name).c_str(), &st) == 0);
    CHECK((st.st_size == 0 || st.st_size == 4096));
}

TEST_CASE("shm error: creator died (a half-made segment nobody holds the creator's lock on)", "[shm][errors]") {
    const std::string name = shm_test::unique_name("edied");
    name_guard guard(que::shm{name});
    SECTION("sized, state 0 or 1: refused at once") {
        shm_test::raw_segment seg(name, 4096);
        for (std::uint32_t state : {0u, 1u}) {
            seg.header()->state.store(state);
            const auto t0 = std::chrono::steady_clock::now();
            expect_open_error<msg8, 64>(joiner(name, 10'000ms), que::errc::creator_died);
            expect_open_error<msg8, 64>(que::shm{name, {.join_timeout = 10'000ms}}, que::errc::creator_died);
            CHECK(std::chrono::steady_clock::now() - t0 < 5s);
        }
    }
    SECTION("size 0: after the join timeout (it may be a creator about to lock)") {
        shm_test::raw_segment seg(name, 0);
        expect_open_error<msg8, 64>(joiner(name, 100ms), que::errc::creator_died);
    }
}

TEST_CASE("shm error: invalid names", "[shm][errors]") {
    // One leading '/' is accepted and ignored ("/m3" is "m3": messages.cpp);
    // what is left must still be a name.
    for (const std::string& bad : {std::string(), std::string(que::max_shm_name + 1, 'a'), std::string("a/b"),
                                   std::string("//lead"), std::string("/"), std::string("/a/b"), std::string("."),
                                   std::string(".."), std::string("/.."), std::string("nul\0inside", 10)}) {
        INFO("name '" << bad << "' (" << bad.size() << " bytes)");
        expect_open_error<msg8, 64>(que::shm{bad}, que::errc::invalid_name);
        expect_open_error<msg8, 64>(que::shm{bad, {.mode = que::open_mode::create}}, que::errc::invalid_name);
    }
    // The longest valid name works.
    const std::string longest = shm_test::unique_name("") + std::string(que::max_shm_name, 'x');
    const std::string name = longest.substr(0, que::max_shm_name);
    name_guard guard(que::shm{name});
    std::error_code ec;
    auto rx = que::spsc::consumer<msg8, 64>::open(que::shm{name}, ec);
    CHECK_FALSE(ec);
    CHECK(rx);
}

TEST_CASE("shm error: not found (open mode, no such name)", "[shm][errors]") {
    const std::string name = shm_test::unique_name("enoent");
    name_guard guard(que::shm{name});
    expect_open_error<msg8, 64>(joiner(name), que::errc::not_found);
    CHECK_FALSE(shm_test::exists_in_dev_shm(name));  // and nothing was created
    const std::error_code ec = que::errc::not_found;
    CHECK(ec == std::errc::no_such_file_or_directory);
}

TEST_CASE("shm error: already exists (create mode, name taken)", "[shm][errors]") {
    const std::string name = shm_test::unique_name("eexist");
    name_guard guard(que::shm{name});
    auto tx = que::spsc::producer<msg8, 64>::open(que::shm{name, {.mode = que::open_mode::create}});
    tx.push(msg8::make(1));
    expect_open_error<msg8, 64>(que::shm{name, {.mode = que::open_mode::create}}, que::errc::already_exists);
    // The live segment was not touched.
    auto rx = que::spsc::consumer<msg8, 64>::open(que::shm{name});
    CHECK(rx.pop().seq() == 1);
}

TEST_CASE("shm error: permission denied (another user's 0600 segment)", "[shm][errors]") {
    if (::geteuid() != 0) QUE_SKIP("not root: cannot switch to user nobody to test another user's segment");
    const std::string name = shm_test::unique_name("eacces");
    name_guard guard(que::shm{name});
    auto tx = que::spsc::producer<msg8, 64>::open(que::shm{name});
    shm_test::child other([&] {
        // Drop to nobody for good (group first, while we still may).
        if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) return 20;
        int code = 0;
        for (que::open_mode mode : {que::open_mode::open, que::open_mode::open_or_create}) {
            std::error_code ec;
            auto rx = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.mode = mode}}, ec);
            if (ec != que::errc::permission_denied || rx) code = 21;
            if (ec != std::errc::permission_denied) code = 22;
            try {
                auto rx2 = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.mode = mode}});
                code = 23;
            } catch (const std::system_error& e) {
                if (e.code() != que::errc::permission_denied) code = 24;
            }
        }
        return code;
    });
    CHECK(other.exit_code() == 0);
}
