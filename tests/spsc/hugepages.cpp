// que::spsc on huge pages: the ring really lands on 2 MiB / 1 GiB pages (checked
// in /proc/self/smaps, not trusted from the library), carries checked messages
// between two threads, and an empty pool gives errc::no_huge_pages or, when
// asked, a visible fallback to standard pages.
//
// These tests change the kernel's huge-page pools (as root): they add what they
// need and put back what they changed (tests/support/hugepage_pool.hpp), and run
// under the ctest resource lock "hugepages" so that no other huge-page test runs
// at the same time.
#include <catch2/catch.hpp>

#include <que/spsc.hpp>

#include <cstdint>
#include <cstdio>
#include <string>
#include <system_error>

#include "checked_message.hpp"
#include "hugepage_pool.hpp"
#include "skip.hpp"
#include "smaps.hpp"
#include "spsc_transfer.hpp"

namespace {

using que_test::msg1264;
constexpr std::size_t ring = 4096;  // 4096 x 1264 B: ~5 MiB, three 2 MiB pages

std::uint64_t pages_needed(que::page_size p) {
    const std::uint64_t seg = que::spsc::detail::spec<msg1264, ring>().segment_size();
    const std::uint64_t page = que::detail::page_bytes(p);
    return (seg + page - 1) / page;
}

// Moves checked messages through a ring made on `p` pages, after checking that
// the kernel really backs the slots with `expect_kb` pages.
void run_on(que::page_size p, std::uint64_t page_kb) {
    que_test::hugepage_pool pool(page_kb);
    if (!pool.exists()) QUE_SKIP("the kernel has no pool of " << page_kb << " kB pages");
    std::string why;
    if (!pool.ensure_available(pages_needed(p), why)) QUE_SKIP(why);

    std::error_code ec;
    auto [tx, rx] = que::spsc::make<msg1264, ring>(que::hugepages{p}, ec);
    if (ec) {
        // The pool had the pages a moment ago; only a concurrent process taking
        // them (outside ctest's resource lock) explains this: say so and skip.
        QUE_SKIP("mmap of " << page_kb << " kB pages failed with " << ec.message() << " although " << pool.available()
                            << " pages were available");
    }
    REQUIRE(static_cast<bool>(tx));
    REQUIRE(static_cast<bool>(rx));
    CHECK_FALSE(tx.fell_back());
    CHECK(tx.page_size() == p);
    CHECK(rx.page_size() == p);

    // The first and the last slot (claim/peek give their addresses) and the
    // metadata block are all on pages of the requested size.
    std::span<msg1264> w = tx.claim(ring);
    REQUIRE(w.size() == ring);
    CHECK(que_test::kernel_page_size_kb(w.data()) == page_kb);
    CHECK(que_test::kernel_page_size_kb(w.data() + ring - 1) == page_kb);
    CHECK(que_test::kernel_page_size_kb(tx.metadata().data()) == page_kb);
    tx.commit(0);

    const std::uint64_t total = que_test::scaled(200'000);
    std::printf("huge pages %llu kB: %llu checked 1264-byte messages (QUE_TEST_SCALE_DIVISOR %d)\n",
                static_cast<unsigned long long>(page_kb), static_cast<unsigned long long>(total),
                QUE_TEST_SCALE_DIVISOR);
    for (auto f : {que_test::flavour::single, que_test::flavour::batch, que_test::flavour::inplace}) {
        que_test::transfer_result r;
        switch (f) {
        case que_test::flavour::single: r = que_test::transfer<que_test::flavour::single>(tx, rx, total); break;
        case que_test::flavour::batch: r = que_test::transfer<que_test::flavour::batch>(tx, rx, total); break;
        case que_test::flavour::inplace: r = que_test::transfer<que_test::flavour::inplace>(tx, rx, total); break;
        }
        INFO(que_test::flavour_name(f) << ": " << r.check);
        CHECK(r.check.perfect(total));
    }
}

}  // namespace

TEST_CASE("spsc hugepages: 2 MiB pages back the ring", "[spsc][hugepages]") { run_on(que::page_size::huge_2m, 2048); }

TEST_CASE("spsc hugepages: a 1 GiB page backs the ring", "[spsc][hugepages]") {
    run_on(que::page_size::gigantic_1g, 1048576);
}

TEST_CASE("spsc hugepages: an empty pool gives no_huge_pages, or a visible fallback", "[spsc][hugepages]") {
    que_test::hugepage_pool pool(2048);
    if (!pool.exists()) QUE_SKIP("the kernel has no 2 MiB page pool");
    std::string why;
    if (!pool.drain(why)) QUE_SKIP(why);

    SECTION("error_code overload") {
        std::error_code ec;
        auto [tx, rx] = que::spsc::make<msg1264, ring>(que::hugepages{que::page_size::huge_2m}, ec);
        CHECK(ec == que::errc::no_huge_pages);
        CHECK(ec == std::errc::not_enough_memory);
        CHECK_FALSE(static_cast<bool>(tx));
        CHECK_FALSE(static_cast<bool>(rx));
    }
    SECTION("throwing overload") {
        try {
            auto pair = que::spsc::make<msg1264, ring>(que::hugepages{que::page_size::huge_2m});
            FAIL("make on an empty huge page pool did not throw");
        } catch (const std::system_error& e) {
            CHECK(e.code() == que::errc::no_huge_pages);
        }
    }
    SECTION("fallback_to_standard maps standard pages and says so") {
        std::error_code ec;
        auto [tx, rx] = que::spsc::make<msg1264, ring>(
            que::hugepages{.pages = que::page_size::huge_2m, .fallback_to_standard = true}, ec);
        REQUIRE_FALSE(ec);
        REQUIRE(static_cast<bool>(tx));
        CHECK(tx.fell_back());
        CHECK(rx.fell_back());
        CHECK(tx.page_size() == que::page_size::standard);
        std::span<msg1264> w = tx.claim(1);
        REQUIRE(w.size() == 1);
        // Standard pages, or transparent huge pages: what matters is the kernel
        // did not use the 2 MiB hugetlb pool it has none of.
        const std::uint64_t kb = que_test::kernel_page_size_kb(w.data());
        CHECK(kb != 0);
        CHECK(kb < 2048);
        tx.commit(0);
        const std::uint64_t total = que_test::scaled(50'000);
        const que_test::transfer_result r = que_test::transfer<que_test::flavour::batch>(tx, rx, total);
        INFO(r.check);
        CHECK(r.check.perfect(total));
    }
    SECTION("fallback is not taken when huge pages are available") {
        if (!pool.ensure_available(pages_needed(que::page_size::huge_2m), why)) QUE_SKIP(why);
        auto [tx, rx] = que::spsc::make<msg1264, ring>(
            que::hugepages{.pages = que::page_size::huge_2m, .fallback_to_standard = true});
        CHECK_FALSE(tx.fell_back());
        CHECK(tx.page_size() == que::page_size::huge_2m);
        CHECK(que_test::kernel_page_size_kb(tx.claim(1).data()) == 2048);
        tx.commit(0);
    }
}
