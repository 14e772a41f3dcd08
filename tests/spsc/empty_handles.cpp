// Every const query on a handle without a channel (default-constructed,
// moved-from, move-assigned-from) returns a defined value: no null
// dereference (issue 13 point 9: size() on a moved-from handle crashed).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include <que/spsc.hpp>

namespace {

constexpr std::size_t n = 16;

template <class H>
void check_common(const H& h) {
    CHECK_FALSE(static_cast<bool>(h));
    CHECK(h.size() == 0);
    CHECK_FALSE(h.closed());
    CHECK_FALSE(h.peer_alive());
    CHECK(h.capacity() == n);
    CHECK(h.page_size() == que::page_size::standard);
    CHECK_FALSE(h.fell_back());
    // metadata(): a zeroed block that no channel shares; what is written to
    // it is gone at the next call.
    auto md = h.metadata();
    CHECK(std::all_of(md.begin(), md.end(), [](std::byte b) { return b == std::byte{0}; }));
    md[0] = std::byte{0x5a};
    auto again = h.metadata();
    CHECK(again[0] == std::byte{0});
}

template <class W>
void check_producer(const que::spsc::producer<std::uint64_t, n, W>& tx) {
    check_common(tx);
    CHECK_FALSE(tx.full());
}

template <class W>
void check_consumer(const que::spsc::consumer<std::uint64_t, n, W>& rx) {
    check_common(rx);
    CHECK(rx.empty());
}

}  // namespace

TEMPLATE_TEST_CASE("spsc: const queries on a handle without a channel", "[spsc][empty]", que::wait::spin,
                   que::wait::sleep) {
    using producer = que::spsc::producer<std::uint64_t, n, TestType>;
    using consumer = que::spsc::consumer<std::uint64_t, n, TestType>;
    SECTION("default-constructed") {
        const producer tx;
        const consumer rx;
        check_producer(tx);
        check_consumer(rx);
    }
    SECTION("moved-from, with messages in the ring") {
        auto [tx, rx] = que::spsc::make<std::uint64_t, n, TestType>();
        REQUIRE(tx.try_push(7));
        REQUIRE(tx.try_push(8));
        producer tx2(std::move(tx));
        consumer rx2(std::move(rx));
        check_producer(tx);  // NOLINT(bugprone-use-after-move): the point of the test
        check_consumer(rx);  // NOLINT(bugprone-use-after-move)
        // The moved-to handles kept the channel.
        CHECK(tx2.size() == 2);
        CHECK(rx2.size() == 2);
        std::uint64_t v = 0;
        REQUIRE(rx2.try_pop(v));
        CHECK(v == 7);
    }
    SECTION("move-assigned-from") {
        auto [tx, rx] = que::spsc::make<std::uint64_t, n, TestType>();
        REQUIRE(tx.try_push(1));
        producer tx2;
        consumer rx2;
        tx2 = std::move(tx);
        rx2 = std::move(rx);
        check_producer(tx);  // NOLINT(bugprone-use-after-move)
        check_consumer(rx);  // NOLINT(bugprone-use-after-move)
        CHECK(rx2.size() == 1);
        CHECK_FALSE(rx2.empty());
    }
}
