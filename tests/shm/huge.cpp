// tests/shm/huge.cpp — que::shm on hugetlbfs: streams between processes on
// 2 MiB and 1 GiB pages, an empty pool, and directories that are not the right
// hugetlbfs. As root each test reserves the pages and mounts a private
// hugetlbfs itself and puts both back afterwards; they share the ctest
// resource lock "hugepages" (tests/shm/CMakeLists.txt) with every other test
// that changes the pools.
#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "shm_support.hpp"
#include "skip.hpp"
#include "smaps.hpp"

namespace {

using que_test::msg1264;
using que_test::msg8;
using shm_test::child;
using shm_test::name_guard;
using shm_test::patience;

constexpr std::uint64_t kb_2m = 2048;
constexpr std::uint64_t kb_1g = 1048576;

// A producer child and a consumer here, over `where`, checked message by message.
template <class M, std::size_t N>
void huge_stream(const que::shm& where, std::uint64_t count, std::uint64_t expect_kb) {
    name_guard guard(where);
    std::printf("shm huge stream: %llu messages of %zu bytes on %llu kB pages\n",
                static_cast<unsigned long long>(count), sizeof(M), static_cast<unsigned long long>(expect_kb));
    std::fflush(stdout);
    auto rx = que::spsc::consumer<M, N>::open(where);
    REQUIRE(rx.page_size() == where.options.pages);
    CHECK(que_test::kernel_page_size_kb(rx.metadata().data()) == expect_kb);

    que::shm joined = where;
    joined.options.mode = que::open_mode::open;
    child producer([&] {
        std::error_code ec;
        auto tx = que::spsc::producer<M, N>::open(joined, ec);
        if (ec) return 10;
        if (que_test::kernel_page_size_kb(tx.metadata().data()) != expect_kb) return 12;
        patience p;
        for (std::uint64_t seq = 0; seq < count;) {
            std::span<M> w = tx.claim(static_cast<std::size_t>(std::min<std::uint64_t>(32, count - seq)));
            for (std::size_t i = 0; i < w.size(); ++i) M::make_at(&w[i], seq + i);
            tx.commit(w.size());
            seq += w.size();
            if (w.empty()) {
                if (!p.pause()) return 11;
            } else {
                p.progress();
            }
        }
        return 0;
    });
    REQUIRE(producer.started());

    que_test::sequence_checker check;
    std::vector<M> batch(64);
    patience p;
    while (check.received < count) {
        const std::size_t got = rx.try_pop(std::span<M>(batch));
        for (std::size_t i = 0; i < got; ++i) check.feed(batch[i]);
        if (got != 0) {
            p.progress();
        } else if (!p.pause()) {
            break;
        }
    }
    INFO(check);
    CHECK(producer.exit_code() == 0);
    CHECK(check.perfect(count));
    M extra{};
    CHECK_FALSE(rx.try_pop(extra));
}

} // namespace

TEST_CASE("shm huge: two processes move 10^7 8-byte messages on 2 MiB pages, all checked", "[shm][hugepages]") {
    que_test::hugepage_pool pool(kb_2m);
    std::string why;
    if (!pool.exists()) QUE_SKIP("this kernel has no 2 MiB huge page pool");
    if (!pool.ensure_available(2, why)) QUE_SKIP(why);
    shm_test::hugetlbfs_mount mnt("2M", why);
    if (!mnt.mounted()) QUE_SKIP(why);
    const que::shm where{shm_test::unique_name("huge8"),
                         {.pages = que::page_size::huge_2m, .hugetlbfs_dir = mnt.dir()}};
    huge_stream<msg8, 4096>(where, que_test::scaled(msg8::stress_count), kb_2m);
    huge_stream<msg1264, 1024>(que::shm{shm_test::unique_name("huge1264"), where.options},
                               que_test::scaled(msg1264::stress_count), kb_2m);
}

TEST_CASE("shm huge: a channel on a 1 GiB page between two processes", "[shm][hugepages]") {
    que_test::hugepage_pool pool(kb_1g);
    std::string why;
    if (!pool.exists()) QUE_SKIP("this kernel has no 1 GiB huge page pool");
    if (!pool.ensure_available(1, why)) QUE_SKIP(why);
    shm_test::hugetlbfs_mount mnt("1G", why);
    if (!mnt.mounted()) QUE_SKIP(why);
    const que::shm where{shm_test::unique_name("giga"),
                         {.pages = que::page_size::gigantic_1g, .hugetlbfs_dir = mnt.dir()}};
    huge_stream<msg8, 4096>(where, que_test::scaled(1'000'000), kb_1g);
}

TEST_CASE("shm huge error: no huge pages (pool emptied)", "[shm][hugepages][errors]") {
    que_test::hugepage_pool pool(kb_2m);
    std::string why;
    if (!pool.exists()) QUE_SKIP("this kernel has no 2 MiB huge page pool");
    if (!pool.drain(why)) QUE_SKIP(why);
    shm_test::hugetlbfs_mount mnt("2M", why);
    if (!mnt.mounted()) QUE_SKIP(why);
    const std::string name = shm_test::unique_name("nohuge");
    const que::shm where{name, {.pages = que::page_size::huge_2m, .hugetlbfs_dir = mnt.dir()}};
    std::error_code ec;
    auto rx = que::spsc::consumer<msg8, 4096>::open(where, ec);
    CHECK(ec == que::errc::no_huge_pages);
    CHECK(ec == std::errc::not_enough_memory);
    CHECK_FALSE(rx);
    try {
        auto tx = que::spsc::producer<msg8, 4096>::open(where);
        FAIL("open did not throw");
    } catch (const std::system_error& e) {
        CHECK(e.code() == que::errc::no_huge_pages);
    }
    // The failed creator took its half-made file back.
    struct stat st {};
    CHECK(::stat((mnt.dir() + "/" + name).c_str(), &st) != 0);
}

TEST_CASE("shm huge error: hugetlbfs not mounted (or of another page size)", "[shm][hugepages][errors]") {
    const std::string name = shm_test::unique_name("nofs");
    const auto expect = [&](const que::shm& where) {
        std::error_code ec;
        auto rx = que::spsc::consumer<msg8, 64>::open(where, ec);
        CHECK(ec == que::errc::hugetlbfs_not_mounted);
        CHECK_FALSE(rx);
        const auto open_throwing = [&] { return que::spsc::producer<msg8, 64>::open(where); };
        CHECK_THROWS_MATCHES(open_throwing(), std::system_error,
                             Catch::Predicate<std::system_error>([](const std::system_error& e) {
                                 return e.code() == que::errc::hugetlbfs_not_mounted;
                             }));
        CHECK(que::shm_remove(where, ec) == false);
        CHECK(ec == que::errc::hugetlbfs_not_mounted);
    };
    // A tmpfs directory would silently give standard pages: refused.
    expect(que::shm{name, {.pages = que::page_size::huge_2m, .hugetlbfs_dir = "/dev/shm"}});
    expect(que::shm{name, {.pages = que::page_size::gigantic_1g, .hugetlbfs_dir = "/tmp"}});
    expect(que::shm{name, {.pages = que::page_size::huge_2m, .hugetlbfs_dir = "/nonexistent/que-huge"}});
    CHECK_FALSE(shm_test::exists_in_dev_shm(name));

    if (::geteuid() != 0) QUE_SKIP("not root: cannot mount a 2 MiB hugetlbfs to ask it for 1 GiB pages");
    std::string why;
    shm_test::hugetlbfs_mount mnt("2M", why);
    if (!mnt.mounted()) QUE_SKIP(why);
    expect(que::shm{name, {.pages = que::page_size::gigantic_1g, .hugetlbfs_dir = mnt.dir()}});
}

TEST_CASE("shm huge: remove_on_close and shm_remove on hugetlbfs", "[shm][hugepages]") {
    que_test::hugepage_pool pool(kb_2m);
    std::string why;
    if (!pool.exists()) QUE_SKIP("this kernel has no 2 MiB huge page pool");
    if (!pool.ensure_available(1, why)) QUE_SKIP(why);
    shm_test::hugetlbfs_mount mnt("2M", why);
    if (!mnt.mounted()) QUE_SKIP(why);
    const std::string name = shm_test::unique_name("hugerm");
    const std::string path = mnt.dir() + "/" + name;
    struct stat st {};
    que::shm where{name, {.pages = que::page_size::huge_2m, .hugetlbfs_dir = mnt.dir()}};
    {
        auto rx = que::spsc::consumer<msg8, 64>::open(where);
        REQUIRE(::stat(path.c_str(), &st) == 0);
        CHECK(st.st_size == 2 * 1024 * 1024);  // one huge page: sized to the page, not the layout
        CHECK((st.st_mode & 0777) == 0600);
    }
    CHECK(::stat(path.c_str(), &st) == 0);  // outlives its handles by default
    CHECK(que::shm_remove(where));
    CHECK(::stat(path.c_str(), &st) != 0);
    CHECK_FALSE(que::shm_remove(where));

    where.options.remove_on_close = true;
    { auto rx = que::spsc::consumer<msg8, 64>::open(where); }
    CHECK(::stat(path.c_str(), &st) != 0);
}
