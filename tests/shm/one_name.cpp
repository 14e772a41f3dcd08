// tests/shm/one_name.cpp — one name is one channel, whatever page size each
// side asks for (issue 13, point 1). A name that exists in /dev/shm or on any
// hugetlbfs mount (of /proc/mounts) cannot be created, nor joined, under
// another one: errc::exists_with_other_pages, with a message naming where it
// is, and the refused creator leaves no file behind. As root each test mounts
// a private 2 MiB hugetlbfs (and reserves a page where it needs one); the
// ctest resource lock "hugepages" serialises it with the other pool users.
#include <sys/stat.h>

#include <string>

#include <catch2/catch.hpp>

#include "shm_support.hpp"
#include "skip.hpp"

namespace {

using que_test::msg8;
using shm_test::name_guard;

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

std::string what_of(que::errc want, const que::shm& where) {
    try {
        auto tx = que::spsc::producer<msg8, 64>::open(where);
    } catch (const std::system_error& e) {
        CHECK(e.code() == want);
        return e.what();
    }
    FAIL_CHECK("open did not throw");
    return {};
}

TEST_CASE("one name: a channel on standard pages refuses a creator on huge pages", "[shm][hugepages][errors]") {
    std::string why;
    shm_test::hugetlbfs_mount mnt("2M", why);
    if (!mnt.mounted()) QUE_SKIP(why);
    const std::string name = shm_test::unique_name("onename-std");
    const que::shm standard{name};
    const que::shm huge{name, {.pages = que::page_size::huge_2m, .hugetlbfs_dir = mnt.dir()}};
    name_guard g1(standard), g2(huge);
    auto rx = que::spsc::consumer<msg8, 64>::open(standard);

    for (que::open_mode mode : {que::open_mode::open_or_create, que::open_mode::create}) {
        que::shm where = huge;
        where.options.mode = mode;
        std::error_code ec;
        auto tx = que::spsc::producer<msg8, 64>::open(where, ec);
        CHECK(ec == que::errc::exists_with_other_pages);
        CHECK(ec == std::errc::file_exists);
        CHECK_FALSE(tx);
        CHECK_FALSE(exists(mnt.dir() + "/" + name));  // the refused creator took its file back
    }
    const std::string w = what_of(que::errc::exists_with_other_pages, huge);
    INFO(w);
    CHECK(w == "que::spsc::producer<que_test::msg8, 64>::open(\"" + name +
                   "\"): a channel of that name exists on another page size (under /dev/shm or a hugetlbfs mount): one "
                   "name is one channel; give both sides the same shm_options::pages, or remove the other one: it "
                   "exists as /dev/shm/" + name + " (4 KiB pages), this handle asked for " + mnt.dir() + "/" + name +
                   " (2 MiB pages): give both sides the same shm_options::pages (and hugetlbfs_dir), or remove the "
                   "other one (que::shm_remove, que-inspect --list)");
    CHECK_FALSE(exists(mnt.dir() + "/" + name));
    // The channel itself is untouched.
    auto tx = que::spsc::producer<msg8, 64>::open(standard);
    REQUIRE(tx.try_push(msg8::make(1)));
    msg8 got{};
    REQUIRE(rx.try_pop(got));
    CHECK(got.seq() == 1);
}

TEST_CASE("one name: a channel on huge pages refuses a creator, and a joiner, on standard pages", "[shm][hugepages][errors]") {
    que_test::hugepage_pool pool(2048);
    std::string why;
    if (!pool.exists()) QUE_SKIP("this kernel has no 2 MiB huge page pool");
    if (!pool.ensure_available(1, why)) QUE_SKIP(why);
    shm_test::hugetlbfs_mount mnt("2M", why);
    if (!mnt.mounted()) QUE_SKIP(why);
    const std::string name = shm_test::unique_name("onename-huge");
    const que::shm standard{name};
    const que::shm huge{name, {.pages = que::page_size::huge_2m, .hugetlbfs_dir = mnt.dir()}};
    name_guard g1(standard), g2(huge);
    auto rx = que::spsc::consumer<msg8, 64>::open(huge);  // the feed, on 2 MiB pages
    REQUIRE(rx.page_size() == que::page_size::huge_2m);

    // The strategy forgot the page size: creating is refused...
    std::error_code ec;
    auto tx = que::spsc::producer<msg8, 64>::open(standard, ec);
    CHECK(ec == que::errc::exists_with_other_pages);
    CHECK_FALSE(tx);
    CHECK_FALSE(shm_test::exists_in_dev_shm(name));
    // ...and so is joining (mode open): the name is there, under other pages.
    que::shm join = standard;
    join.options.mode = que::open_mode::open;
    auto tx2 = que::spsc::producer<msg8, 64>::open(join, ec);
    CHECK(ec == que::errc::exists_with_other_pages);
    CHECK_FALSE(tx2);
    const std::string w = what_of(que::errc::exists_with_other_pages, join);
    INFO(w);
    CHECK(w.find(": it exists as " + mnt.dir() + "/" + name + " (2 MiB pages), this handle asked for /dev/shm/" + name +
                 " (4 KiB pages): give both sides the same shm_options::pages") != std::string::npos);
    CHECK_FALSE(shm_test::exists_in_dev_shm(name));
    // A name that exists nowhere is still plain not_found.
    que::shm nowhere{shm_test::unique_name("onename-none"), {.mode = que::open_mode::open}};
    auto none = que::spsc::producer<msg8, 64>::open(nowhere, ec);
    CHECK(ec == que::errc::not_found);
    // Asked right, the strategy joins the feed's channel.
    que::shm right = huge;
    right.options.mode = que::open_mode::open;
    auto tx3 = que::spsc::producer<msg8, 64>::open(right);
    REQUIRE(tx3.try_push(msg8::make(7)));
    msg8 got{};
    REQUIRE(rx.try_pop(got));
    CHECK(got.seq() == 7);
}

} // namespace
