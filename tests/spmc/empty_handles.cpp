// Every const query on an spmc handle without a channel (default-constructed,
// moved-from, move-assigned-from) returns a defined value.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include <que/spmc.hpp>

namespace {

constexpr std::size_t n = 16;

template <class H>
void check_common(const H& h) {
    CHECK_FALSE(static_cast<bool>(h));
    CHECK(h.capacity() == n);
    CHECK(h.page_size() == que::page_size::standard);
    CHECK_FALSE(h.fell_back());
    auto md = h.metadata();
    CHECK(std::all_of(md.begin(), md.end(), [](std::byte b) { return b == std::byte{0}; }));
    md[0] = std::byte{0x5a};
    CHECK(h.metadata()[0] == std::byte{0});
    // subscribe() on an empty handle is an error, not a crash.
    std::error_code ec;
    auto sub = h.subscribe({}, ec);
    CHECK(ec == std::errc::bad_file_descriptor);
    CHECK_FALSE(static_cast<bool>(sub));
}

void check_producer(const que::spmc::producer<std::uint64_t, n>& tx) {
    check_common(tx);
    CHECK(tx.pushed() == 0);
}

void check_consumer(const que::spmc::consumer<std::uint64_t, n>& rx) {
    check_common(rx);
    CHECK(rx.missed() == 0);
    CHECK(rx.next_index() == 0);
    CHECK(rx.stride() == 1);
    CHECK(rx.offset() == 0);
}

}  // namespace

TEST_CASE("spmc: const queries on a handle without a channel", "[spmc][empty]") {
    using producer = que::spmc::producer<std::uint64_t, n>;
    using consumer = que::spmc::consumer<std::uint64_t, n>;
    SECTION("default-constructed") {
        const producer tx;
        const consumer rx;
        check_producer(tx);
        check_consumer(rx);
    }
    SECTION("moved-from and move-assigned-from") {
        auto [tx, rx] = que::spmc::make<std::uint64_t, n>();
        tx.push(5);
        producer tx2(std::move(tx));
        consumer rx2;
        rx2 = std::move(rx);
        check_common(tx);  // NOLINT(bugprone-use-after-move): the point of the test
        check_common(rx);  // NOLINT(bugprone-use-after-move)
        CHECK(tx2.pushed() == 1);
        std::uint64_t v = 0;
        REQUIRE(rx2.try_pop(v));
        CHECK(v == 5);
    }
}
