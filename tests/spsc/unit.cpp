// Unit tests of every operation of que::spsc (single-threaded: each call's
// effect is deterministic here; the two-thread tests are in stress.cpp).
#include <catch2/catch.hpp>

#include <que/spsc.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "checked_message.hpp"

namespace {

// An odd-sized element (3 bytes, alignment 1) and an over-aligned one: slots are
// packed at sizeof(T), so both catch index arithmetic that assumes 8-byte slots.
struct odd3 {
    std::uint8_t b[3];
};
struct alignas(64) wide {
    std::uint64_t v;
    std::uint8_t pad[56];
};

// Every element type the unit tests use is built from and compared by an index.
template <class T>
T val(std::uint64_t i) {
    if constexpr (std::is_same_v<T, odd3>) {
        return odd3{
            {static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i * 7)}};
    } else if constexpr (std::is_same_v<T, wide>) {
        wide w{};
        w.v = i;
        w.pad[55] = static_cast<std::uint8_t>(i * 3);
        return w;
    } else if constexpr (std::is_same_v<T, que_test::msg1264> || std::is_same_v<T, que_test::msg8>) {
        return T::make(i);
    } else {
        return static_cast<T>(i * 2654435761u + 1);
    }
}

template <class T>
bool same(const T& a, const T& b) {
    return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <class T, std::size_t N>
struct cfg {
    using type = T;
    static constexpr std::size_t n = N;
};

// Pushes then pops `k` messages, so that the next index is `k` (mod N): puts the
// ring's start wherever a test needs it.
template <class P, class C>
void advance(P& tx, C& rx, std::size_t k) {
    using T = typename P::value_type;
    for (std::size_t i = 0; i < k; ++i) {
        REQUIRE(tx.try_push(val<T>(1000 + i)));
        T out{};
        REQUIRE(rx.try_pop(out));
    }
}

}  // namespace

// 1 and 8 slots of a plain word, an odd 3-byte element, an over-aligned one,
// and a big message: the shapes where slot arithmetic could go wrong.
#define QUE_CONFIGS                                                                                                  \
    (cfg<std::uint64_t, 1>), (cfg<std::uint64_t, 8>), (cfg<odd3, 4>), (cfg<wide, 16>), (cfg<que_test::msg1264, 8>)

TEMPLATE_TEST_CASE("spsc: fill, full, drain, empty in FIFO order", "[spsc][unit]", QUE_CONFIGS) {
    using T = typename TestType::type;
    constexpr std::size_t N = TestType::n;
    auto [tx, rx] = que::spsc::make<T, N>();
    REQUIRE(static_cast<bool>(tx));
    REQUIRE(static_cast<bool>(rx));
    STATIC_REQUIRE(decltype(tx)::capacity() == N);
    STATIC_REQUIRE(decltype(rx)::capacity() == N);
    CHECK(rx.empty());
    CHECK(tx.size() == 0);
    CHECK_FALSE(tx.full());

    // Start mid-ring on the second pass so the fill crosses the end of the array.
    const std::size_t start = GENERATE(std::size_t{0}, N / 2 + 1, N - 1);
    advance(tx, rx, start);

    for (std::size_t i = 0; i < N; ++i) {
        CHECK(tx.size() == i);
        CHECK(rx.size() == i);
        REQUIRE(tx.try_push(val<T>(i)));
    }
    CHECK(tx.full());
    CHECK(tx.size() == N);
    CHECK(rx.size() == N);
    CHECK_FALSE(rx.empty());
    CHECK_FALSE(tx.try_push(val<T>(999)));  // full: refused, nothing overwritten
    CHECK(tx.size() == N);

    for (std::size_t i = 0; i < N; ++i) {
        T out{};
        REQUIRE(rx.try_pop(out));
        CHECK(same(out, val<T>(i)));
        CHECK(rx.size() == N - i - 1);
    }
    CHECK(rx.empty());
    CHECK(tx.size() == 0);

    // Empty: try_pop(T&) leaves its argument untouched, the optional form is empty.
    T sentinel = val<T>(4242);
    CHECK_FALSE(rx.try_pop(sentinel));
    CHECK(same(sentinel, val<T>(4242)));
    CHECK_FALSE(rx.try_pop().has_value());
}

TEMPLATE_TEST_CASE("spsc: every pop form and push over many laps", "[spsc][unit]", QUE_CONFIGS) {
    using T = typename TestType::type;
    constexpr std::size_t N = TestType::n;
    auto [tx, rx] = que::spsc::make<T, N>();
    std::uint64_t next_in = 0, next_out = 0;
    // Lap the ring several times with the fill level cycling 1..N, rotating
    // through the three pop forms and both push forms.
    for (std::size_t round = 0; round < 5 * N + 7; ++round) {
        const std::size_t fill = round % N + 1;
        for (std::size_t i = 0; i < fill; ++i) {
            if (i % 2 == 0) {
                tx.push(val<T>(next_in++));
            } else {
                REQUIRE(tx.try_push(val<T>(next_in++)));
            }
        }
        for (std::size_t i = 0; i < fill; ++i) {
            switch ((round + i) % 3) {
            case 0: {
                T out{};
                REQUIRE(rx.try_pop(out));
                REQUIRE(same(out, val<T>(next_out++)));
                break;
            }
            case 1: {
                std::optional<T> out = rx.try_pop();
                REQUIRE(out.has_value());
                REQUIRE(same(*out, val<T>(next_out++)));
                break;
            }
            default: {
                const T out = rx.pop();
                REQUIRE(same(out, val<T>(next_out++)));
                break;
            }
            }
        }
        REQUIRE(rx.empty());
    }
    CHECK(next_in == next_out);
}

TEMPLATE_TEST_CASE("spsc: batch try_push and try_pop, across the wrap", "[spsc][unit]", QUE_CONFIGS) {
    using T = typename TestType::type;
    constexpr std::size_t N = TestType::n;
    auto [tx, rx] = que::spsc::make<T, N>();

    std::vector<T> in(2 * N + 3), out(2 * N + 3);
    auto fill_in = [&](std::uint64_t base) {
        for (std::size_t i = 0; i < in.size(); ++i) in[i] = val<T>(base + i);
    };

    SECTION("empty spans move nothing") {
        CHECK(tx.try_push(std::span<const T>{}) == 0);
        CHECK(rx.try_pop(std::span<T>{}) == 0);
        CHECK(rx.empty());
    }
    SECTION("more than fits: writes exactly the free slots, in order") {
        const std::size_t start = GENERATE(std::size_t{0}, N - 1, N / 2);
        advance(tx, rx, start);
        fill_in(0);
        CHECK(tx.try_push(std::span<const T>(in)) == N);
        CHECK(tx.full());
        CHECK(tx.try_push(std::span<const T>(in)) == 0);  // full
        // Pop into a bigger span: gets all N, across the wrap when start > 0.
        CHECK(rx.try_pop(std::span<T>(out)) == N);
        for (std::size_t i = 0; i < N; ++i) CHECK(same(out[i], in[i]));
        CHECK(rx.try_pop(std::span<T>(out)) == 0);  // empty
    }
    SECTION("partial batches keep order with single pushes interleaved") {
        fill_in(100);
        std::uint64_t produced = 0, consumed = 0;
        std::size_t width = 1;
        for (int round = 0; round < 40; ++round) {
            const std::size_t k = std::min(width, in.size() - 1);
            std::vector<T> chunk(k);
            for (std::size_t i = 0; i < k; ++i) chunk[i] = val<T>(produced + i);
            const std::size_t wrote = tx.try_push(std::span<const T>(chunk));
            CHECK(wrote == std::min(k, N - (produced - consumed)));
            produced += wrote;
            if (tx.try_push(val<T>(produced))) ++produced;
            // Pop roughly half of what is queued, in a batch of varying size.
            const std::size_t want = static_cast<std::size_t>((produced - consumed + 1) / 2);
            const std::size_t got = rx.try_pop(std::span<T>(out.data(), want));
            CHECK(got == want);
            for (std::size_t i = 0; i < got; ++i) REQUIRE(same(out[i], val<T>(consumed + i)));
            consumed += got;
            width = width * 3 % (N + 2) + 1;
        }
        const std::size_t rest = rx.try_pop(std::span<T>(out));
        CHECK(rest == produced - consumed);
        for (std::size_t i = 0; i < rest; ++i) REQUIRE(same(out[i], val<T>(consumed + i)));
    }
}

TEMPLATE_TEST_CASE("spsc: claim and commit edges", "[spsc][unit]", QUE_CONFIGS) {
    using T = typename TestType::type;
    constexpr std::size_t N = TestType::n;
    auto [tx, rx] = que::spsc::make<T, N>();

    SECTION("claim(0) and commit without a claim publish nothing") {
        CHECK(tx.claim(0).empty());
        tx.commit(5);
        CHECK(rx.empty());
        tx.commit(0);
        CHECK(rx.empty());
    }
    SECTION("claiming more than is free returns the free run; commit is clamped to the claim") {
        if constexpr (N >= 2) {
            REQUIRE(tx.try_push(val<T>(0)));  // one slot used, start at index 0
            std::span<T> w = tx.claim(N + 5);
            REQUIRE(w.size() == N - 1);
            for (std::size_t i = 0; i < w.size(); ++i) w[i] = val<T>(1 + i);
            CHECK(rx.size() == 1);  // nothing of the claim is visible before commit
            tx.commit(N * 10);      // clamped to N - 1
            CHECK(rx.size() == N);
            CHECK(tx.full());
            CHECK(tx.claim(1).empty());  // full: nothing to claim
            tx.commit(1);                // nothing claimed: no effect
            CHECK(rx.size() == N);
            for (std::size_t i = 0; i < N; ++i) {
                T out{};
                REQUIRE(rx.try_pop(out));
                CHECK(same(out, val<T>(i)));
            }
        } else {
            std::span<T> w = tx.claim(5);
            REQUIRE(w.size() == 1);
            w[0] = val<T>(7);
            tx.commit(3);
            CHECK(tx.full());
            CHECK(tx.claim(1).empty());
            CHECK(same(rx.pop(), val<T>(7)));
        }
    }
    SECTION("a claim at the wrap returns the run up to the end of the array") {
        const std::size_t start = N - 1 == 0 ? 0 : N - 1;
        advance(tx, rx, start);
        std::span<T> w = tx.claim(N);
        // The ring is empty (N free) but only N - start slots are contiguous.
        REQUIRE(w.size() == N - start);
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = val<T>(i);
        tx.commit(w.size());
        std::span<T> w2 = tx.claim(N);  // the rest, from the start of the array
        REQUIRE(w2.size() == start);
        for (std::size_t i = 0; i < w2.size(); ++i) w2[i] = val<T>(w.size() + i);
        tx.commit(w2.size());
        CHECK(tx.full());
        for (std::size_t i = 0; i < N; ++i) {
            T out{};
            REQUIRE(rx.try_pop(out));
            CHECK(same(out, val<T>(i)));
        }
    }
    SECTION("partial commits publish a prefix, then the rest of the same claim") {
        if constexpr (N >= 4) {
            std::span<T> w = tx.claim(4);
            REQUIRE(w.size() == 4);
            for (std::size_t i = 0; i < 4; ++i) w[i] = val<T>(i);
            tx.commit(1);
            CHECK(rx.size() == 1);
            tx.commit(2);
            CHECK(rx.size() == 3);
            tx.commit(2);  // only one left of the claim
            CHECK(rx.size() == 4);
            tx.commit(1);  // claim exhausted
            CHECK(rx.size() == 4);
            for (std::size_t i = 0; i < 4; ++i) CHECK(same(rx.pop(), val<T>(i)));
        } else {
            SUCCEED("N < 4: covered by the other sections");
        }
    }
    SECTION("a new claim replaces an uncommitted one") {
        std::span<T> w = tx.claim(N);
        REQUIRE(w.size() == N);
        w[0] = val<T>(55);
        tx.commit(0);
        std::span<T> w2 = tx.claim(1);
        REQUIRE(w2.size() == 1);
        CHECK(w2.data() == w.data());  // same first free slot
        w2[0] = val<T>(56);
        tx.commit(N);  // clamped to the new claim's 1
        CHECK(rx.size() == 1);
        CHECK(same(rx.pop(), val<T>(56)));
    }
}

TEMPLATE_TEST_CASE("spsc: peek and release edges", "[spsc][unit]", QUE_CONFIGS) {
    using T = typename TestType::type;
    constexpr std::size_t N = TestType::n;
    auto [tx, rx] = que::spsc::make<T, N>();

    SECTION("peek on an empty ring is empty and release does nothing") {
        CHECK(rx.peek().empty());
        rx.release(3);
        CHECK(rx.empty());
        CHECK(tx.try_push(val<T>(1)));
        CHECK(rx.size() == 1);
    }
    SECTION("peek shows published messages in place until released; release is clamped") {
        const std::size_t k = N >= 3 ? 3 : N;
        for (std::size_t i = 0; i < k; ++i) REQUIRE(tx.try_push(val<T>(i)));
        std::span<const T> r = rx.peek();
        REQUIRE(r.size() == k);
        for (std::size_t i = 0; i < k; ++i) CHECK(same(r[i], val<T>(i)));
        CHECK(rx.peek().data() == r.data());  // peeking again does not consume
        rx.release(1);
        CHECK(rx.size() == k - 1);
        rx.release(N * 4);  // more than was seen: releases only those
        CHECK(rx.empty());
        CHECK(tx.size() == 0);
        // Everything is free again: a full ring's worth fits.
        for (std::size_t i = 0; i < N; ++i) REQUIRE(tx.try_push(val<T>(10 + i)));
        CHECK_FALSE(tx.try_push(val<T>(0)));
    }
    SECTION("peek after the wrap: the run up to the end, then the rest") {
        const std::size_t start = N - 1 == 0 ? 0 : N - 1;
        advance(tx, rx, start);
        for (std::size_t i = 0; i < N; ++i) REQUIRE(tx.try_push(val<T>(i)));
        std::span<const T> first = rx.peek();
        REQUIRE(first.size() == N - start);
        for (std::size_t i = 0; i < first.size(); ++i) CHECK(same(first[i], val<T>(i)));
        rx.release(first.size());
        std::span<const T> second = rx.peek();
        REQUIRE(second.size() == start);
        for (std::size_t i = 0; i < second.size(); ++i) CHECK(same(second[i], val<T>(first.size() + i)));
        rx.release(second.size());
        CHECK(rx.peek().empty());
        CHECK(rx.empty());
    }
    SECTION("released slots are reused by the producer, unreleased ones are not") {
        for (std::size_t i = 0; i < N; ++i) REQUIRE(tx.try_push(val<T>(i)));
        std::span<const T> r = rx.peek();
        REQUIRE(r.size() == N);
        CHECK_FALSE(tx.try_push(val<T>(99)));  // peeked but not released: still full
        CHECK(same(r[0], val<T>(0)));
        rx.release(1);
        REQUIRE(tx.try_push(val<T>(N)));  // reuses slot 0
        CHECK_FALSE(tx.try_push(val<T>(99)));
        for (std::size_t i = 1; i <= N; ++i) CHECK(same(rx.pop(), val<T>(i)));
    }
}

TEST_CASE("spsc: N = 1 holds exactly one message", "[spsc][unit]") {
    auto [tx, rx] = que::spsc::make<std::uint64_t, 1>();
    for (std::uint64_t i = 0; i < 5; ++i) {
        CHECK_FALSE(tx.full());
        REQUIRE(tx.try_push(i));
        CHECK(tx.full());
        CHECK_FALSE(tx.try_push(i + 100));
        const std::array<std::uint64_t, 3> batch{7, 8, 9};
        CHECK(tx.try_push(std::span<const std::uint64_t>(batch)) == 0);
        CHECK(tx.claim(4).empty());
        CHECK(rx.peek().size() == 1);
        CHECK(rx.pop() == i);
        CHECK(rx.empty());
    }
    const std::array<std::uint64_t, 3> batch{7, 8, 9};
    CHECK(tx.try_push(std::span<const std::uint64_t>(batch)) == 1);
    std::array<std::uint64_t, 3> out{};
    CHECK(rx.try_pop(std::span<std::uint64_t>(out)) == 1);
    CHECK(out[0] == 7);
    CHECK(tx.claim(4).size() == 1);
}

// The documented batched release: single pops hand slots back every
// min(64, N/4) messages and whenever the consumer took the last message it
// knew of; batch pops, release() and close() hand them back at once.
TEST_CASE("spsc: single pops return slots in groups of min(64, N/4)", "[spsc][unit]") {
    auto [tx, rx] = que::spsc::make<std::uint64_t, 16>();  // groups of 4
    for (std::uint64_t i = 0; i < 16; ++i) REQUIRE(tx.try_push(i));
    CHECK_FALSE(tx.try_push(99));
    for (std::uint64_t i = 0; i < 3; ++i) {
        CHECK(rx.pop() == i);
        CHECK_FALSE(tx.try_push(99));  // read, not returned yet: still full to the producer
        CHECK(tx.size() == 16);
        CHECK(rx.size() == 15 - i);    // the consumer's own view is exact
    }
    CHECK(rx.pop() == 3);  // the fourth returns all four
    CHECK(tx.size() == 12);
    for (std::uint64_t i = 16; i < 20; ++i) REQUIRE(tx.try_push(i));
    CHECK_FALSE(tx.try_push(99));

    // Taking the last message the consumer knew of returns everything.
    std::array<std::uint64_t, 16> out{};
    REQUIRE(rx.try_pop(std::span<std::uint64_t>(out).first(14)) == 14);  // batch: returned at once
    CHECK(tx.size() == 2);
    CHECK(rx.pop() == 18);
    CHECK(tx.size() == 2);  // 19 is still there and known: nothing returned
    CHECK(rx.pop() == 19);
    CHECK(tx.size() == 0);  // drained: returned
    for (std::uint64_t i = 0; i < 16; ++i) REQUIRE(tx.try_push(100 + i));

    // close() returns what single pops held back.
    CHECK(rx.pop() == 100);
    CHECK(tx.size() == 16);
    rx.close();
    CHECK(tx.size() == 15);
}

TEST_CASE("spsc: a ring of 4 or fewer returns every slot at once", "[spsc][unit]") {
    auto [tx, rx] = que::spsc::make<std::uint64_t, 4>();
    for (std::uint64_t lap = 0; lap < 3; ++lap) {
        for (std::uint64_t i = 0; i < 4; ++i) REQUIRE(tx.try_push(lap * 4 + i));
        CHECK_FALSE(tx.try_push(99));
        CHECK(rx.pop() == lap * 4);
        REQUIRE(tx.try_push(99));  // returned at once: the group is 1
        for (std::uint64_t i = 1; i < 4; ++i) CHECK(rx.pop() == lap * 4 + i);
        CHECK(rx.pop() == 99);
    }
}

TEST_CASE("spsc: handles are move-only and keep the ring alive", "[spsc][unit]") {
    using producer = que::spsc::producer<std::uint64_t, 8>;
    using consumer = que::spsc::consumer<std::uint64_t, 8>;
    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<producer>);
    STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<producer>);
    STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<consumer>);
    STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<consumer>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<producer>);
    STATIC_REQUIRE(std::is_nothrow_move_assignable_v<producer>);
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<consumer>);
    STATIC_REQUIRE(std::is_nothrow_move_assignable_v<consumer>);

    CHECK_FALSE(static_cast<bool>(producer{}));  // default-constructed: no ring
    CHECK_FALSE(static_cast<bool>(consumer{}));

    auto [tx0, rx0] = que::spsc::make<std::uint64_t, 8>();
    REQUIRE(tx0.try_push(1));
    REQUIRE(tx0.try_push(2));
    REQUIRE(rx0.pop() == 1);
    // Moves carry the private indices and cached copies: the stream continues.
    producer tx(std::move(tx0));
    consumer rx(std::move(rx0));
    CHECK_FALSE(static_cast<bool>(tx0));  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    CHECK_FALSE(static_cast<bool>(rx0));  // NOLINT(bugprone-use-after-move)
    REQUIRE(static_cast<bool>(tx));
    REQUIRE(static_cast<bool>(rx));
    REQUIRE(tx.try_push(3));
    CHECK(rx.pop() == 2);

    producer tx2;
    consumer rx2;
    tx2 = std::move(tx);
    rx2 = std::move(rx);
    CHECK_FALSE(static_cast<bool>(tx));  // NOLINT(bugprone-use-after-move)
    CHECK_FALSE(static_cast<bool>(rx));  // NOLINT(bugprone-use-after-move)
    // Fill up to the exact capacity through the moved-to handle: proves the
    // moved write index and cached read index are right, not just non-null.
    for (std::uint64_t v = 4; v < 11; ++v) REQUIRE(tx2.try_push(v));
    CHECK(tx2.full());
    CHECK_FALSE(tx2.try_push(99));

    // Move-assigning over a live handle drops its old ring; the new ring lives
    // while either of its handles does (ASan checks there is no use after free).
    auto [tx3, rx3] = que::spsc::make<std::uint64_t, 8>();
    REQUIRE(tx3.try_push(77));
    tx2 = std::move(tx3);
    { producer gone(std::move(tx2)); }  // the producer is gone; the consumer still owns the memory
    CHECK(rx3.pop() == 77);
    for (std::uint64_t v = 3; v < 11; ++v) CHECK(rx2.pop() == v);
    CHECK(rx2.empty());
}

namespace {
// A backing that always fails: make() must report its error both ways.
struct failing_backing {
    que::errc what = que::errc::out_of_memory;
    // noinline: inlined, gcc 12 follows the (dead) success path with the null
    // mapping into make() and warns -Wstringop-overflow about it.
    [[gnu::noinline]] que::detail::mapping attach(const que::detail::channel_spec&, std::error_code& ec) const {
        ec = what;
        return {};
    }
};
}  // namespace

TEST_CASE("spsc: make reports backing errors through std::error_code and exceptions", "[spsc][unit]") {
    SECTION("error_code overload: success clears a stale error") {
        std::error_code ec = que::errc::corrupt_segment;
        auto [tx, rx] = que::spsc::make<std::uint64_t, 16>(que::heap{}, ec);
        CHECK_FALSE(ec);
        REQUIRE(static_cast<bool>(tx));
        REQUIRE(static_cast<bool>(rx));
        REQUIRE(tx.try_push(5));
        CHECK(rx.pop() == 5);
        CHECK(tx.page_size() == que::page_size::standard);
        CHECK_FALSE(tx.fell_back());
        CHECK_FALSE(rx.fell_back());
    }
    SECTION("error_code overload: failure gives empty handles and the errc, no throw") {
        std::error_code ec;
        std::pair<que::spsc::producer<std::uint64_t, 16>, que::spsc::consumer<std::uint64_t, 16>> p;
        CHECK_NOTHROW(p = que::spsc::make<std::uint64_t, 16>(failing_backing{que::errc::no_huge_pages}, ec));
        CHECK(ec == que::errc::no_huge_pages);
        CHECK(ec.category() == que::error_category());
        CHECK(ec == std::errc::not_enough_memory);  // portable condition
        CHECK_FALSE(static_cast<bool>(p.first));
        CHECK_FALSE(static_cast<bool>(p.second));
    }
    SECTION("throwing overload: std::system_error carrying the que::errc") {
        try {
            auto pair = que::spsc::make<std::uint64_t, 16>(failing_backing{});
            FAIL("make did not throw");
        } catch (const std::system_error& e) {
            CHECK(e.code() == que::errc::out_of_memory);
            CHECK(std::string(e.what()).find("que::spsc::make") != std::string::npos);
        }
    }
}

TEST_CASE("spsc: metadata block is shared by both handles", "[spsc][unit]") {
    auto [tx, rx] = que::spsc::make<std::uint32_t, 4>();
    auto m = tx.metadata();
    STATIC_REQUIRE(decltype(m)::extent >= 64);
    CHECK(rx.metadata().data() == m.data());
    for (std::size_t i = 0; i < m.size(); ++i) CHECK(m[i] == std::byte{0});  // zeroed at creation
    m[0] = std::byte{0x5a};
    m[m.size() - 1] = std::byte{0xa5};
    CHECK(rx.metadata()[0] == std::byte{0x5a});
    CHECK(rx.metadata()[m.size() - 1] == std::byte{0xa5});
    // Metadata does not overlap the slots.
    for (std::uint32_t i = 0; i < 4; ++i) REQUIRE(tx.try_push(0xffffffffu));
    CHECK(rx.metadata()[1] == std::byte{0});
}

TEST_CASE("spsc: hot-path calls are noexcept", "[spsc][unit]") {
    using P = que::spsc::producer<std::uint64_t, 8>;
    using C = que::spsc::consumer<std::uint64_t, 8>;
    std::uint64_t v = 0;
    std::span<std::uint64_t> s;
    std::span<const std::uint64_t> cs;
    STATIC_REQUIRE(noexcept(std::declval<P&>().try_push(v)));
    STATIC_REQUIRE(noexcept(std::declval<P&>().push(v)));
    STATIC_REQUIRE(noexcept(std::declval<P&>().try_push(cs)));
    STATIC_REQUIRE(noexcept(std::declval<P&>().claim(1)));
    STATIC_REQUIRE(noexcept(std::declval<P&>().commit(1)));
    STATIC_REQUIRE(noexcept(std::declval<P&>().size()));
    STATIC_REQUIRE(noexcept(std::declval<C&>().try_pop(v)));
    STATIC_REQUIRE(noexcept(std::declval<C&>().try_pop()));
    STATIC_REQUIRE(noexcept(std::declval<C&>().pop()));
    STATIC_REQUIRE(noexcept(std::declval<C&>().try_pop(s)));
    STATIC_REQUIRE(noexcept(std::declval<C&>().peek()));
    STATIC_REQUIRE(noexcept(std::declval<C&>().release(1)));
    STATIC_REQUIRE(noexcept(std::declval<C&>().size()));
    STATIC_REQUIRE(noexcept(std::declval<C&>().empty()));
    (void)v;
}

// --- issue 11: outstanding claims and peeks, impossible sizes ------------------

namespace {
// After a claim that another publication ended: exactly `7` is in the ring,
// and the free count is right (exactly N more fit, then the ring is full).
template <class P, class C>
void check_one_then_free(P& tx, C& rx, std::size_t n) {
    CHECK(tx.size() == 1);
    CHECK(rx.size() == 1);
    CHECK(rx.try_pop() == std::optional<std::uint64_t>(7));
    CHECK_FALSE(rx.try_pop());
    for (std::uint64_t i = 0; i < n; ++i) REQUIRE(tx.try_push(std::uint64_t{200 + i}));
    CHECK_FALSE(tx.try_push(std::uint64_t{0}));
    for (std::uint64_t i = 0; i < n; ++i) CHECK(rx.try_pop() == std::optional<std::uint64_t>(200 + i));
    CHECK_FALSE(rx.try_pop());
}
} // namespace

TEST_CASE("spsc: a publication invalidates an outstanding claim, so commit never publishes past free space",
          "[spsc][unit][claim]") {
    constexpr std::size_t N = 16;
    auto [tx, rx] = que::spsc::make<std::uint64_t, N>();
    SECTION("try_push") {
        REQUIRE(tx.claim(N).size() == N);
        REQUIRE(tx.try_push(std::uint64_t{7}));
        tx.commit(N);  // the claim died with the push: publishes nothing
        check_one_then_free(tx, rx, N);
    }
    SECTION("push") {
        REQUIRE(tx.claim(N).size() == N);
        REQUIRE(tx.push(std::uint64_t{7}) == que::status::ok);
        tx.commit(N);
        check_one_then_free(tx, rx, N);
    }
    SECTION("batch try_push") {
        REQUIRE(tx.claim(N).size() == N);
        const std::uint64_t one[1] = {7};
        REQUIRE(tx.try_push(std::span<const std::uint64_t>(one)) == 1);
        tx.commit(N);
        check_one_then_free(tx, rx, N);
    }
    SECTION("a partly committed claim, then a push") {
        std::span<std::uint64_t> w = tx.claim(N);
        w[0] = 6;
        w[1] = 66;
        tx.commit(1);
        REQUIRE(tx.try_push(std::uint64_t{7}));
        tx.commit(N);  // the rest of the claim died with the push
        CHECK(tx.size() == 2);
        std::uint64_t out[4] = {};
        REQUIRE(rx.try_pop(std::span<std::uint64_t>(out)) == 2);  // a batch pop hands both slots back
        CHECK(out[0] == 6);
        CHECK(out[1] == 7);
        for (std::uint64_t i = 0; i < N; ++i) REQUIRE(tx.try_push(std::uint64_t{100 + i}));
        CHECK_FALSE(tx.try_push(std::uint64_t{0}));
        for (std::uint64_t i = 0; i < N; ++i) CHECK(rx.try_pop() == std::optional<std::uint64_t>(100 + i));
        CHECK_FALSE(rx.try_pop());
    }
    SECTION("claims, partial commits and the next claim still work") {
        std::span<std::uint64_t> w = tx.claim(4);
        REQUIRE(w.size() == 4);
        for (std::uint64_t i = 0; i < 4; ++i) w[i] = i;
        tx.commit(1);
        tx.commit(2);  // the claim's next two
        tx.commit(5);  // clamped to the one left
        tx.commit(1);  // nothing left
        CHECK(tx.size() == 4);
        for (std::uint64_t i = 0; i < 4; ++i) CHECK(rx.try_pop() == std::optional<std::uint64_t>(i));
        CHECK_FALSE(rx.try_pop());
    }
}

namespace {
// The rest of the ring after a peek/pop/release mix: `first`, then in order
// up to 11 (the test pushes 0..11): nothing lost, nothing repeated.
template <class C>
void check_rest_from(C& rx, std::uint64_t first) {
    std::uint64_t next = first;
    while (auto v = rx.try_pop()) CHECK(*v == next++);
    CHECK(next == 12);
}
} // namespace

TEST_CASE("spsc: a pop after peek takes the span's first messages; release gives back only what the span showed",
          "[spsc][unit][peek]") {
    constexpr std::size_t N = 16;
    auto [tx, rx] = que::spsc::make<std::uint64_t, N>();
    for (std::uint64_t i = 0; i < 8; ++i) REQUIRE(tx.try_push(i));
    std::span<const std::uint64_t> seen = rx.peek();
    REQUIRE(seen.size() == 8);
    SECTION("single pop") {
        CHECK(rx.try_pop() == std::optional<std::uint64_t>(0));
        // The span's entries the pop did not take are still there, unchanged.
        for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] == i);
        for (std::uint64_t i = 8; i < 12; ++i) REQUIRE(tx.try_push(i));
        rx.release(seen.size());  // 1..7 only: 8 was never shown by the span
        check_rest_from(rx, 8);
    }
    SECTION("batch pop") {
        std::uint64_t out[3];
        REQUIRE(rx.try_pop(std::span<std::uint64_t>(out)) == 3);
        for (std::uint64_t i = 8; i < 12; ++i) REQUIRE(tx.try_push(i));
        rx.release(seen.size());  // 3..7 only
        check_rest_from(rx, 8);
    }
    SECTION("pops past the span: release gives back nothing") {
        for (std::uint64_t i = 8; i < 12; ++i) REQUIRE(tx.try_push(i));
        for (std::uint64_t i = 0; i < 9; ++i) REQUIRE(rx.try_pop() == std::optional<std::uint64_t>(i));
        rx.release(seen.size());
        check_rest_from(rx, 9);
    }
    SECTION("release without any peek gives back nothing") {
        auto [tx2, rx2] = que::spsc::make<std::uint64_t, N>();
        REQUIRE(tx2.try_push(std::uint64_t{1}));
        rx2.release(1);
        CHECK(rx2.size() == 1);
        CHECK(rx2.try_pop() == std::optional<std::uint64_t>(1));
    }
}

TEST_CASE("spsc: validate refuses a header whose sizes overflow or disagree", "[spsc][unit][corrupt]") {
    using que::detail::header;
    const que::detail::channel_spec spec{que::detail::channel_kind::spsc, 8, 8, 16, 1234, 8};
    alignas(128) std::array<std::byte, que::detail::slots_offset + 16 * 8> seg{};
    que::detail::initialize(seg.data(), spec, 4096, 1);
    REQUIRE_FALSE(que::detail::validate(seg.data(), seg.size(), spec));
    header* h = que::detail::header_of(seg.data());
    SECTION("slot_size * capacity wraps to a small size") {
        // A spec the compiler would refuse, as a header could claim it: the
        // product wraps to 0 and the layout would be 896 bytes.
        const que::detail::channel_spec huge{que::detail::channel_kind::spsc, 8, 8, std::uint64_t{1} << 61, 1234, 8};
        h->capacity = huge.capacity;
        h->segment_size = que::detail::slots_offset;  // what the wrapped product gives
        CHECK(que::detail::validate(seg.data(), seg.size(), huge) == que::errc::corrupt_segment);
    }
    SECTION("capacity not a power of two") {
        const que::detail::channel_spec odd{que::detail::channel_kind::spsc, 8, 8, 12, 1234, 8};
        h->capacity = 12;
        h->segment_size = que::detail::slots_offset + 12 * 8;
        CHECK(que::detail::validate(seg.data(), seg.size(), odd) == que::errc::corrupt_segment);
    }
    SECTION("segment_size beyond the mapping") {
        h->segment_size = ~std::uint64_t{0} - 3;
        CHECK(que::detail::validate(seg.data(), seg.size(), spec) == que::errc::corrupt_segment);
    }
}

TEST_CASE("spsc: segment sizes are computed without overflow, 0 when impossible", "[spsc][unit][corrupt]") {
    CHECK(que::detail::checked_segment_size(8, 16) == que::detail::slots_offset + 128);
    CHECK(que::detail::checked_segment_size(8, std::uint64_t{1} << 61) == 0);
    CHECK(que::detail::checked_segment_size(std::uint64_t{1} << 40, std::uint64_t{1} << 40) == 0);
    CHECK(que::detail::checked_segment_size(1, que::detail::max_ring_bytes) != 0);
    CHECK(que::detail::checked_segment_size(1, que::detail::max_ring_bytes + 1) == 0);
    CHECK(que::detail::checked_segment_size(0, 16) == 0);
    const que::detail::channel_spec huge{que::detail::channel_kind::spsc, 8, 8, std::uint64_t{1} << 61, 1, 8};
    CHECK(huge.segment_size() == 0);  // impossible: 0, which no header matches
}

// ---------------------------------------------------------------------------
// Handle layout: no two handles ever share a 128-byte block (two cache lines,
// which the adjacent-line prefetcher moves together), however they are held.
// That is what keeps the producer's private indices (written every push) off
// the lines the consumer reads every pop. Asserted as layout, not timing.

namespace {

constexpr std::uintptr_t handle_block = 128;

// The bytes [p, p + size) lie in 128-byte blocks none of which holds a byte
// of [q, q + size_q).
bool blocks_apart(const void* p, std::size_t size_p, const void* q, std::size_t size_q) {
    const auto a = reinterpret_cast<std::uintptr_t>(p), b = reinterpret_cast<std::uintptr_t>(q);
    const std::uintptr_t a_first = a / handle_block, a_last = (a + size_p - 1) / handle_block;
    const std::uintptr_t b_first = b / handle_block, b_last = (b + size_q - 1) / handle_block;
    return a_last < b_first || b_last < a_first;
}

bool block_aligned(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % handle_block == 0; }

template <class P, class C>
void check_handle_types() {
    STATIC_REQUIRE(alignof(P) == handle_block);
    STATIC_REQUIRE(alignof(C) == handle_block);
    STATIC_REQUIRE(sizeof(P) % handle_block == 0);
    STATIC_REQUIRE(sizeof(C) % handle_block == 0);
}

}  // namespace

TEMPLATE_TEST_CASE("spsc: each handle owns whole 128-byte blocks", "[spsc][unit][layout]", std::uint8_t, std::uint64_t,
                   odd3, wide) {
    using P = que::spsc::producer<TestType, 64>;
    using C = que::spsc::consumer<TestType, 64>;
    check_handle_types<P, C>();
    check_handle_types<que::spsc::producer<TestType, 64, que::wait::sleep>,
                       que::spsc::consumer<TestType, 64, que::wait::sleep>>();

    SECTION("the pair make() returns") {
        auto ends = que::spsc::make<TestType, 64>();
        auto& [tx, rx] = ends;
        CHECK(block_aligned(&tx));
        CHECK(block_aligned(&rx));
        CHECK(blocks_apart(&tx, sizeof(P), &rx, sizeof(C)));
        // The README's usage: structured bindings of the returned pair.
        auto [tx2, rx2] = que::spsc::make<TestType, 64>();
        CHECK(block_aligned(&tx2));
        CHECK(block_aligned(&rx2));
        CHECK(blocks_apart(&tx2, sizeof(P), &rx2, sizeof(C)));
    }
    SECTION("a struct holding both, packed as tightly as the language allows") {
        struct both {
            char tag;
            P tx;
            C rx;
            char tail;
        };
        auto b = std::make_unique<both>();  // aligned new (C++17)
        CHECK(block_aligned(&b->tx));
        CHECK(block_aligned(&b->rx));
        CHECK(blocks_apart(&b->tx, sizeof(P), &b->rx, sizeof(C)));
        CHECK(blocks_apart(&b->tag, 1, &b->tx, sizeof(P)));
        CHECK(blocks_apart(&b->tail, 1, &b->rx, sizeof(C)));
    }
    SECTION("handles on the stack next to each other") {
        P tx;
        char between = 0;
        C rx;
        CHECK(block_aligned(&tx));
        CHECK(block_aligned(&rx));
        CHECK(blocks_apart(&tx, sizeof(P), &rx, sizeof(C)));
        CHECK(blocks_apart(&between, 1, &rx, sizeof(C)));
    }
    SECTION("a std::vector of handles") {
        std::vector<P> v(5);
        for (std::size_t i = 0; i < v.size(); ++i) {
            INFO("element " << i);
            CHECK(block_aligned(&v[i]));
            if (i > 0) CHECK(blocks_apart(&v[i - 1], sizeof(P), &v[i], sizeof(P)));
        }
    }
}
