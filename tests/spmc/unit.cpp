// Single-threaded behaviour of que::spmc: every outcome here is deterministic,
// so the lap arithmetic is checked to the message.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include <que/que.hpp>
#include <que/spmc.hpp>

#include "hugepage_pool.hpp"
#include "skip.hpp"
#include "spmc_test.hpp"

using spmc_test::indexed;
using spmc_test::joined;
using spmc_test::ledger;
using que::spmc::read_status;

namespace {

struct twelve {  // 12 bytes: the slot pads it to 16
    std::uint32_t a, b, c;
};

struct alignas(32) wide {  // over-aligned: the slot payload (at offset 8) is not; T is only formed in `out`
    std::uint64_t a[5];
};

struct no_default {  // trivially copyable, not default-constructible
    explicit no_default(std::uint64_t v) : value(v) {}
    std::uint64_t value;
};

template <class T, std::size_t N>
que::detail::mapping heap_segment() {
    std::error_code ec;
    que::detail::mapping m = que::heap{}.attach(que::spmc::detail::spec<T, N>(), ec);
    REQUIRE(!ec);
    return m;
}

}  // namespace

TEST_CASE("spmc: slot layout and protocol constants", "[spmc]") {
    using namespace que::spmc::detail;
    STATIC_REQUIRE(slot_size<char> == 16);
    STATIC_REQUIRE(slot_size<std::uint64_t> == 16);
    // No slot straddles a 64-byte line it need not: powers of two up to a
    // line, whole lines beyond.
    STATIC_REQUIRE(slot_size<twelve> == 32);
    STATIC_REQUIRE(slot_size<std::array<char, 48>> == 64);
    STATIC_REQUIRE(slot_size<std::array<char, 57>> == 128);
    STATIC_REQUIRE(slot_size<que_test::msg1264> == 1280);
    STATIC_REQUIRE(!read_behind_index<std::uint64_t>);
    STATIC_REQUIRE(!read_behind_index<twelve>);
    STATIC_REQUIRE(read_behind_index<std::array<char, 48>>);
    STATIC_REQUIRE(read_behind_index<que_test::msg1264>);
    STATIC_REQUIRE(publish_interval_for<std::uint64_t, 64> == 16);
    STATIC_REQUIRE(publish_interval_for<que_test::msg1264, 64> == 1);
    STATIC_REQUIRE(spec<twelve, 64>().kind == que::detail::channel_kind::spmc);
    STATIC_REQUIRE(spec<twelve, 64>().slot_size == 32);
    STATIC_REQUIRE(spec<twelve, 64>().element_size == 12);
    STATIC_REQUIRE(publish_interval<2> == 1);
    STATIC_REQUIRE(publish_interval<8> == 2);
    STATIC_REQUIRE(publish_interval<64> == 16);
    STATIC_REQUIRE(publish_interval<1 << 20> == 16);
    STATIC_REQUIRE(lap_headroom<4> == 0);
    STATIC_REQUIRE(lap_headroom<8> == 1);
    STATIC_REQUIRE(lap_headroom<1024> == 128);
    STATIC_REQUIRE(!std::is_copy_constructible_v<que::spmc::producer<int, 8>>);
    STATIC_REQUIRE(!std::is_copy_constructible_v<que::spmc::consumer<int, 8>>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<que::spmc::consumer<int, 8>>);
    STATIC_REQUIRE(noexcept(std::declval<que::spmc::producer<int, 8>&>().push(1)));
    STATIC_REQUIRE(noexcept(std::declval<que::spmc::consumer<int, 8>&>().try_pop(std::declval<int&>())));
}

TEST_CASE("spmc: messages arrive in order, padded types intact", "[spmc]") {
    auto [tx, rx] = que::spmc::make<twelve, 16>();
    REQUIRE(tx);
    REQUIRE(rx);
    for (std::uint32_t i = 0; i < 10; ++i) tx.push(twelve{i, i * 3, ~i});
    twelve t{};
    for (std::uint32_t i = 0; i < 10; ++i) {
        REQUIRE(rx.try_pop(t));
        CHECK(t.a == i);
        CHECK(t.b == i * 3);
        CHECK(t.c == ~i);
    }
    t = twelve{7, 7, 7};
    CHECK_FALSE(rx.try_pop(t));
    CHECK(t.a == 7);  // untouched when empty
    CHECK(rx.missed() == 0);
    CHECK(rx.next_index() == 10);
    CHECK(tx.pushed() == 10);
}

TEST_CASE("spmc: over-aligned element types", "[spmc]") {
    STATIC_REQUIRE(sizeof(wide) == 64);
    auto [tx, rx] = que::spmc::make<wide, 8>();
    for (std::uint64_t i = 0; i < 5; ++i) tx.push(wide{{i, i + 1, i + 2, i + 3, i + 4}});
    wide w{};
    for (std::uint64_t i = 0; i < 5; ++i) {
        REQUIRE(rx.try_pop(w));
        CHECK(w.a[0] == i);
        CHECK(w.a[4] == i + 4);
    }
    const std::optional<wide> none = rx.try_pop();
    CHECK_FALSE(none.has_value());
}

TEST_CASE("spmc: read() on an empty ring", "[spmc]") {
    auto [tx, rx] = que::spmc::make<std::uint64_t, 8>();
    std::uint64_t v = 42;
    const auto r = rx.read(v);
    CHECK(r.status == read_status::empty);
    CHECK_FALSE(r);
    CHECK(r.skipped == 0);
    CHECK(v == 42);
    CHECK(rx.missed() == 0);
}

TEST_CASE("spmc: wrap-around without lapping loses nothing", "[spmc]") {
    auto [tx, rx] = que::spmc::make<std::uint64_t, 8>();
    std::uint64_t next = 0;
    std::uint64_t expect = 0;
    for (int round = 0; round < 1000; ++round) {
        const int burst = 1 + round % 8;  // never more than N ahead
        for (int i = 0; i < burst; ++i) tx.push(next++);
        std::uint64_t v = 0;
        while (rx.try_pop(v)) REQUIRE(v == expect++);
    }
    CHECK(expect == next);
    CHECK(rx.missed() == 0);
}

TEST_CASE("spmc: a lapped consumer skips to the computed index and counts exactly", "[spmc]") {
    // N = 8: headroom 1, publish interval 2. A lapped consumer lands on
    // max(r + 1, newest - N + 1 + headroom) = newest - 6.
    auto [tx, rx] = que::spmc::make<std::uint64_t, 8>();
    std::uint64_t v = 0;

    SECTION("write index flushed: newest = 20") {
        for (std::uint64_t i = 0; i < 20; ++i) tx.push(i);
        tx.flush();
        const auto r = rx.read(v);
        CHECK(r.status == read_status::lapped);
        CHECK(r.skipped == 14);
        CHECK(rx.next_index() == 14);
        CHECK(rx.missed() == 14);
        for (std::uint64_t i = 14; i < 20; ++i) {
            REQUIRE(rx.read(v).status == read_status::ok);
            CHECK(v == i);
        }
        CHECK(rx.read(v).status == read_status::empty);
        CHECK(rx.missed() + 6 == 20);
    }
    SECTION("write index stale (18 of 19): the slot's own sequence proves 16") {
        for (std::uint64_t i = 0; i < 19; ++i) tx.push(i);
        // published every 2 pushes: 18. Slot 0 holds index 16 -> newest = 18.
        const auto r = rx.read(v);
        CHECK(r.status == read_status::lapped);
        CHECK(r.skipped == 12);
        std::uint64_t got = 0;
        while (rx.try_pop(v)) CHECK(v == 12 + got++);
        CHECK(got == 7);
        CHECK(rx.missed() + got == 19);
    }
    SECTION("try_pop skips laps by itself") {
        for (std::uint64_t i = 0; i < 100; ++i) tx.push(i);
        REQUIRE(rx.try_pop(v));
        CHECK(v == 100 - 8 + 2);  // newest 100 (flushed at 100 by the interval) - 6
        CHECK(rx.missed() == v);
    }
}

TEST_CASE("spmc: single-threaded random schedule, received + missed == produced", "[spmc]") {
    std::mt19937_64 rng(12345);
    auto [tx, rx] = que::spmc::make<indexed<3>, 16>();
    auto rx2 = tx.subscribe();  // a second broadcast consumer
    const std::uint64_t total = 200000;
    ledger a(total), b(total);
    std::uint64_t produced = 0;
    indexed<3> m{};
    auto step = [&](auto& c, ledger& book, int reads) {
        for (int i = 0; i < reads; ++i) {
            const std::uint64_t at = c.next_index();
            const auto r = c.read(m);
            if (r.status == read_status::ok)
                book.got(at, m);
            else if (r.status == read_status::lapped)
                book.skipped(at, 1, r.skipped);
            else
                break;
        }
    };
    while (produced < total) {
        const auto burst = static_cast<std::uint64_t>(rng() % 40);
        for (std::uint64_t i = 0; i < burst && produced < total; ++i) tx.push(indexed<3>::make(produced++));
        step(rx, a, static_cast<int>(rng() % 30));
        step(rx2, b, static_cast<int>(rng() % 30));
    }
    step(rx, a, 1 << 30);
    step(rx2, b, 1 << 30);
    INFO("a: " << a << "  b: " << b);
    for (const ledger* l : {&a, &b}) {
        CHECK(l->received + l->missed == total);
        CHECK(l->torn == 0);
        CHECK(l->wrong_index == 0);
        CHECK(l->double_count == 0);
        CHECK(l->beyond_end == 0);
        CHECK(spmc_test::uncovered({l}, total) == 0);
        CHECK(l->laps > 0);
    }
    CHECK(rx.missed() == a.missed);
    CHECK(rx2.missed() == b.missed);
}

TEST_CASE("spmc: strided consumers split the stream, each index exactly once", "[spmc]") {
    std::mt19937_64 rng(777);
    constexpr std::uint64_t k = 3;
    auto [tx, first] = que::spmc::make<std::uint64_t, 32>({}, {.stride = k, .offset = 0});
    std::vector<que::spmc::consumer<std::uint64_t, 32>> rxs;
    rxs.push_back(std::move(first));
    rxs.push_back(tx.subscribe({.stride = k, .offset = 1}));
    rxs.push_back(tx.subscribe({.stride = k, .offset = 2}));
    const std::uint64_t total = 100000;
    std::vector<ledger> books;
    for (std::uint64_t c = 0; c < k; ++c) books.emplace_back(total);
    std::uint64_t produced = 0;
    auto step = [&](std::size_t c, int reads) {
        std::uint64_t v = 0;
        for (int i = 0; i < reads; ++i) {
            const std::uint64_t at = rxs[c].next_index();
            REQUIRE(at % k == c);
            const auto r = rxs[c].read(v);
            if (r.status == read_status::ok) {
                CHECK(v == at);
                books[c].note(at, 1);
                ++books[c].received;
            } else if (r.status == read_status::lapped) {
                books[c].skipped(at, k, r.skipped);
            } else {
                break;
            }
        }
    };
    while (produced < total) {
        const auto burst = static_cast<std::uint64_t>(rng() % 100);
        for (std::uint64_t i = 0; i < burst && produced < total; ++i) tx.push(produced++);
        for (std::size_t c = 0; c < k; ++c) step(c, static_cast<int>(rng() % 20));
    }
    for (std::size_t c = 0; c < k; ++c) step(c, 1 << 30);
    std::uint64_t share_sum = 0;
    for (std::size_t c = 0; c < k; ++c) {
        INFO("consumer " << c << ": " << books[c]);
        CHECK(books[c].double_count == 0);
        CHECK(books[c].beyond_end == 0);
        CHECK(books[c].missed == rxs[c].missed());
        CHECK(books[c].laps > 0);
        share_sum += books[c].received + books[c].missed;
    }
    CHECK(share_sum == total);
    CHECK(spmc_test::uncovered({&books[0], &books[1], &books[2]}, total) == 0);
}

TEST_CASE("spmc: start = latest receives only what comes after", "[spmc]") {
    auto [tx, rx] = que::spmc::make<std::uint64_t, 64>();  // publish interval 16
    for (std::uint64_t i = 0; i < 5; ++i) tx.push(i);       // not yet published

    SECTION("unpublished pushes are still 'before'") {
        auto late = tx.subscribe({.start = que::spmc::start_at::latest});
        CHECK(late.next_index() == 5);
        std::uint64_t v = 0;
        CHECK_FALSE(late.try_pop(v));
        tx.push(5);
        REQUIRE(late.try_pop(v));
        CHECK(v == 5);
        CHECK_FALSE(late.try_pop(v));
        CHECK(late.missed() == 0);
        REQUIRE(rx.try_pop(v));  // the first consumer started at the oldest: index 0
        CHECK(v == 0);
    }
    SECTION("after flush, and on a lapped ring") {
        for (std::uint64_t i = 5; i < 1000; ++i) tx.push(i);
        tx.flush();
        auto late = tx.subscribe({.start = que::spmc::start_at::latest});
        CHECK(late.next_index() == 1000);
        auto strided = tx.subscribe({.stride = 4, .offset = 1, .start = que::spmc::start_at::latest});
        CHECK(strided.next_index() == 1001);
        tx.push(1000);
        tx.push(1001);
        std::uint64_t v = 0;
        REQUIRE(late.try_pop(v));
        CHECK(v == 1000);
        REQUIRE(strided.try_pop(v));
        CHECK(v == 1001);
    }
    SECTION("start = oldest on a lapped ring gets the last N") {
        for (std::uint64_t i = 5; i < 1000; ++i) tx.push(i);
        tx.flush();
        auto old = tx.subscribe({.start = que::spmc::start_at::oldest});
        CHECK(old.next_index() == 1000 - 64);
        std::uint64_t v = 0;
        std::uint64_t expect = 1000 - 64;
        while (old.try_pop(v)) CHECK(v == expect++);
        CHECK(expect == 1000);
        CHECK(old.missed() == 0);
    }
}

TEST_CASE("spmc: batch push publishes once, batch pop", "[spmc]") {
    que::detail::mapping m = heap_segment<std::uint64_t, 64>();
    auto* prod = que::detail::producer_of(m.base);
    auto tx = que::spmc::producer<std::uint64_t, 64>::open(joined{m});
    auto rx = que::spmc::consumer<std::uint64_t, 64>::open(joined{m});

    for (std::uint64_t i = 0; i < 3; ++i) tx.push(i);
    CHECK(prod->write.load() == 0);  // single pushes: published every 16
    tx.flush();
    CHECK(prod->write.load() == 3);
    for (std::uint64_t i = 3; i < 18; ++i) tx.push(i);
    CHECK(prod->write.load() == 3);  // 16 pushes since the last publication not reached yet
    tx.push(18);
    CHECK(prod->write.load() == 19);

    std::array<std::uint64_t, 5> batch{19, 20, 21, 22, 23};
    tx.push(std::span<const std::uint64_t>(batch));
    CHECK(prod->write.load() == 24);  // a batch is published at its end

    std::vector<std::uint64_t> out(8);
    CHECK(rx.try_pop(std::span<std::uint64_t>(out)) == 8);
    for (std::uint64_t i = 0; i < 8; ++i) CHECK(out[i] == i);
    std::vector<std::uint64_t> rest(100);
    CHECK(rx.try_pop(std::span<std::uint64_t>(rest)) == 16);
    for (std::uint64_t i = 0; i < 16; ++i) CHECK(rest[i] == 8 + i);
    CHECK(rx.try_pop(std::span<std::uint64_t>(rest)) == 0);

    std::vector<std::uint64_t> big(200);
    for (std::uint64_t i = 0; i < big.size(); ++i) big[i] = 24 + i;
    tx.push(std::span<const std::uint64_t>(big));  // more than a lap in one call
    CHECK(prod->write.load() == 224);
    // Lapped at 24: lands at newest - N + 1 + headroom = 224 - 64 + 1 + 8 = 169.
    CHECK(rx.try_pop(std::span<std::uint64_t>(rest)) == 224 - 169);
    CHECK(rest[0] == 169);
    CHECK(rest[224 - 169 - 1] == 223);
    CHECK(rx.missed() == 169 - 24);
}

TEST_CASE("spmc: optional try_pop works for types without a default constructor", "[spmc]") {
    auto [tx, rx] = que::spmc::make<no_default, 8>();
    CHECK_FALSE(rx.try_pop().has_value());
    tx.push(no_default{99});
    const std::optional<no_default> o = rx.try_pop();
    REQUIRE(o.has_value());
    CHECK(o->value == 99);
}

TEST_CASE("spmc: invalid options are refused", "[spmc]") {
    auto [tx, rx] = que::spmc::make<int, 8>();
    std::error_code ec;
    auto bad = tx.subscribe({.stride = 0}, ec);
    CHECK(ec == std::errc::invalid_argument);
    CHECK_FALSE(bad);
    auto bad2 = rx.subscribe({.stride = 2, .offset = 2}, ec);
    CHECK(ec == std::errc::invalid_argument);
    CHECK_FALSE(bad2);
    CHECK_THROWS_AS(tx.subscribe({.stride = 1, .offset = 1}), std::system_error);
    CHECK_THROWS_AS((que::spmc::make<int, 8>(que::heap{}, {.stride = 0})), std::system_error);
    auto ok = rx.subscribe({.stride = 2, .offset = 1}, ec);
    CHECK(!ec);
    CHECK(ok);
    CHECK(ok.next_index() == 1);

    que::spmc::consumer<int, 8> empty_handle;
    CHECK_FALSE(empty_handle);
    auto none = empty_handle.subscribe({}, ec);
    CHECK(ec);
    CHECK_FALSE(none);
}

TEST_CASE("spmc: joining spsc as spmc and the reverse fails with wrong_kind", "[spmc]") {
    std::error_code ec;
    que::detail::mapping spsc_seg = que::heap{}.attach(que::spsc::detail::spec<std::uint64_t, 64>(), ec);
    REQUIRE(!ec);
    que::detail::mapping spmc_seg = heap_segment<std::uint64_t, 64>();

    auto p = que::spmc::producer<std::uint64_t, 64>::open(joined{spsc_seg}, ec);
    CHECK(ec == que::errc::wrong_kind);
    CHECK_FALSE(p);
    auto c = que::spmc::consumer<std::uint64_t, 64>::open(joined{spsc_seg}, ec);
    CHECK(ec == que::errc::wrong_kind);
    CHECK_FALSE(c);
    auto sp = que::spsc::producer<std::uint64_t, 64>::open(joined{spmc_seg}, ec);
    CHECK(ec == que::errc::wrong_kind);
    auto sc = que::spsc::consumer<std::uint64_t, 64>::open(joined{spmc_seg}, ec);
    CHECK(ec == que::errc::wrong_kind);
    CHECK_THROWS_AS((que::spmc::consumer<std::uint64_t, 64>::open(joined{spsc_seg})), std::system_error);

    // And the other fields of the spec are checked as for spsc.
    auto cap = que::spmc::consumer<std::uint64_t, 128>::open(joined{spmc_seg}, ec);
    CHECK(ec == que::errc::wrong_capacity);
    auto size = que::spmc::consumer<std::uint32_t, 64>::open(joined{spmc_seg}, ec);
    CHECK(ec == que::errc::wrong_element_size);
    auto ok = que::spmc::consumer<std::uint64_t, 64>::open(joined{spmc_seg}, ec);
    CHECK(!ec);
    CHECK(ok);
}

TEST_CASE("spmc: one producer at a time, and a new one continues after the newest slot", "[spmc]") {
    que::detail::mapping m = heap_segment<std::uint64_t, 16>();
    auto* prod = que::detail::producer_of(m.base);
    std::byte* slots = que::detail::slots_of(m.base);
    auto seq_of = [&](std::uint64_t slot) {
        return std::atomic_ref<std::uint64_t>(
            *reinterpret_cast<std::uint64_t*>(slots + slot * que::spmc::detail::slot_size<std::uint64_t>));
    };
    auto rx = que::spmc::consumer<std::uint64_t, 16>::open(joined{m});
    {
        auto tx = que::spmc::producer<std::uint64_t, 16>::open(joined{m});
        CHECK(prod->pid.load() == static_cast<std::uint32_t>(::getpid()));
        std::error_code ec;
        auto second = que::spmc::producer<std::uint64_t, 16>::open(joined{m}, ec);
        CHECK(ec == que::errc::role_taken);
        CHECK_FALSE(second);
        CHECK_THROWS_AS((que::spmc::producer<std::uint64_t, 16>::open(joined{m})), std::system_error);
        for (std::uint64_t i = 0; i < 3; ++i) tx.push(i);  // interval 4: not published yet
        CHECK(prod->write.load() == 0);
    }
    CHECK(prod->write.load() == 3);  // the destructor flushed
    CHECK(prod->pid.load() == 0);    // and gave the role back

    SECTION("messages written but never published (the producer died before its flush)") {
        prod->write.store(0);
        auto tx = que::spmc::producer<std::uint64_t, 16>::open(joined{m});
        CHECK(tx.pushed() == 3);  // found by scanning the slots, not from `write`
        CHECK(prod->write.load() == 3);
    }
    SECTION("a producer died while writing index 3: the slot is left odd") {
        seq_of(3).store(2 * 3 + 1);
        auto tx = que::spmc::producer<std::uint64_t, 16>::open(joined{m});
        CHECK(tx.pushed() == 3);  // index 3 is written again, complete this time
        std::uint64_t v = 0;
        for (std::uint64_t i = 0; i < 3; ++i) {
            REQUIRE(rx.try_pop(v));
            CHECK(v == i);
        }
        CHECK_FALSE(rx.try_pop(v));  // half-written: not available
        tx.push(333);
        tx.push(444);
        REQUIRE(rx.try_pop(v));
        CHECK(v == 333);
        REQUIRE(rx.try_pop(v));
        CHECK(v == 444);
        CHECK(rx.missed() == 0);
    }
}

TEST_CASE("spmc: consumers never write shared memory", "[spmc]") {
    que::detail::mapping m = heap_segment<indexed<4>, 8>();
    auto tx = que::spmc::producer<indexed<4>, 8>::open(joined{m});
    auto rx = que::spmc::consumer<indexed<4>, 8>::open(joined{m}, {.stride = 2, .offset = 1});
    auto rx2 = rx.subscribe();
    for (std::uint64_t i = 0; i < 21; ++i) tx.push(indexed<4>::make(i));
    tx.flush();
    std::vector<std::byte> before(static_cast<const std::byte*>(m.base),
                                  static_cast<const std::byte*>(m.base) + m.bytes);
    indexed<4> v{};
    std::uint64_t n = 0;
    while (rx.try_pop(v)) {
        CHECK(v.intact());
        CHECK(v.seq() % 2 == 1);
        ++n;
    }
    while (rx2.try_pop(v)) ++n;
    CHECK(n > 0);
    CHECK(rx.missed() > 0);
    CHECK(std::memcmp(before.data(), m.base, m.bytes) == 0);
}

TEST_CASE("spmc: handles move, the moved-from is empty, metadata is shared", "[spmc]") {
    auto [tx, rx] = que::spmc::make<std::uint64_t, 8>();
    tx.push(1);
    auto tx2 = std::move(tx);
    auto rx2 = std::move(rx);
    CHECK_FALSE(tx);
    CHECK_FALSE(rx);
    CHECK(tx2);
    tx2.push(2);
    std::uint64_t v = 0;
    REQUIRE(rx2.try_pop(v));
    CHECK(v == 1);
    REQUIRE(rx2.try_pop(v));
    CHECK(v == 2);
    tx2.metadata()[0] = std::byte{0x5c};
    CHECK(rx2.metadata()[0] == std::byte{0x5c});
    // The ring outlives the handle that created it while another maps it.
    auto rx3 = tx2.subscribe();
    { auto gone = std::move(tx2); }
    CHECK(rx3.try_pop(v));
    CHECK(rx3.capacity() == 8);
}

TEST_CASE("spmc: works on huge pages", "[spmc]") {
    std::error_code ec;
    auto [tx, rx] = que::spmc::make<indexed<2>, 1024>(que::hugepages{.fallback_to_standard = true}, ec);
    REQUIRE(!ec);
    for (std::uint64_t i = 0; i < 100; ++i) tx.push(indexed<2>::make(i));
    indexed<2> v{};
    for (std::uint64_t i = 0; i < 100; ++i) {
        REQUIRE(rx.try_pop(v));
        CHECK(v.intact());
        CHECK(v.seq() == i);
    }
    // As root, reserve the one 2 MiB page this needs (and give it back after);
    // skip only where the kernel refuses.
    que_test::hugepage_pool pool(2048);
    std::string why;
    if (!pool.ensure_available(1, why)) QUE_SKIP("cannot reserve a 2 MiB huge page: " << why);
    auto [htx, hrx] = que::spmc::make<indexed<2>, 1024>(que::hugepages{}, ec);
    if (ec == que::errc::no_huge_pages) QUE_SKIP("the kernel refused the 2 MiB mapping: " << ec.message());
    REQUIRE(!ec);
    CHECK(htx.page_size() == que::page_size::huge_2m);
    htx.push(indexed<2>::make(5));
    REQUIRE(hrx.try_pop(v));
    CHECK(v.seq() == 5);
}

// issue 11, point 5: spmc's slot size times N is checked like spsc's: the
// compiler refuses N = 2^60 of 8-byte payloads (tests/spsc/compile_fail/
// spmc_capacity_too_large.cpp), and a header that claims such a ring is
// corrupt, not a wrapped 896-byte segment.
TEST_CASE("spmc: a header whose slot_size * capacity overflows is refused as corrupt", "[spmc][corrupt]") {
    constexpr std::uint64_t slot = que::spmc::detail::slot_size<std::uint64_t>;
    const que::detail::channel_spec huge{que::detail::channel_kind::spmc, 8, 8, std::uint64_t{1} << 60,
                                         que::type_tag_v<std::uint64_t>, slot};
    CHECK(huge.segment_size() == 0);
    alignas(128) std::array<std::byte, que::detail::slots_offset + 16 * slot> seg{};
    const que::detail::channel_spec small{que::detail::channel_kind::spmc, 8, 8, 16,
                                          que::type_tag_v<std::uint64_t>, slot};
    que::detail::initialize(seg.data(), small, 4096, 1);
    REQUIRE_FALSE(que::detail::validate(seg.data(), seg.size(), small));
    que::detail::header* h = que::detail::header_of(seg.data());
    h->capacity = huge.capacity;
    h->segment_size = que::detail::slots_offset;  // the wrapped product: 2^60 * 16 = 0 (mod 2^64)
    CHECK(que::detail::validate(seg.data(), seg.size(), huge) == que::errc::corrupt_segment);
}

// Handle layout: each handle owns whole 128-byte blocks, so the producer and
// the consumers of a std::vector filled by subscribe() never share a line (or
// a prefetcher's pair of lines). Asserted as layout, not timing.
TEST_CASE("spmc: each handle owns whole 128-byte blocks", "[spmc][unit][layout]") {
    constexpr std::uintptr_t block = 128;
    using P = que::spmc::producer<std::uint64_t, 64>;
    using C = que::spmc::consumer<std::uint64_t, 64>;
    STATIC_REQUIRE(alignof(P) == block);
    STATIC_REQUIRE(alignof(C) == block);
    STATIC_REQUIRE(sizeof(P) % block == 0);
    STATIC_REQUIRE(sizeof(C) % block == 0);
    const auto at = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p); };

    auto ends = que::spmc::make<std::uint64_t, 64>();
    CHECK(at(&ends.first) % block == 0);
    CHECK(at(&ends.second) % block == 0);
    CHECK(at(&ends.second) - at(&ends.first) >= sizeof(P));

    std::vector<C> rxs;
    for (int i = 0; i < 7; ++i) rxs.push_back(ends.first.subscribe());
    for (std::size_t i = 0; i < rxs.size(); ++i) {
        INFO("consumer " << i);
        CHECK(at(&rxs[i]) % block == 0);
        if (i > 0) CHECK(at(&rxs[i]) - at(&rxs[i - 1]) >= sizeof(C));
    }
}
