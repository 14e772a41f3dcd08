// que::spmc over a stream's life: where a lapped consumer lands under each
// lap_policy (to the message, with exact accounting), the end of the stream
// (the producer's close() or destruction reaches consumers after their drain,
// in threads and across processes over que::shm; a new producer reopens it),
// a segment whose name leads elsewhere (replaced(), status::replaced), and
// the one default wait strategy of both kinds.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <random>
#include <thread>
#include <type_traits>
#include <vector>

#include <que/backing/shm.hpp>
#include <que/spmc.hpp>
#include <que/spsc.hpp>

#include "../shm/shm_support.hpp"
#include "spmc_test.hpp"

using namespace std::chrono_literals;
using que::spmc::lap_policy;
using que::spmc::read_status;
using spmc_test::indexed;
using spmc_test::joined;
using spmc_test::ledger;
using clock_type = std::chrono::steady_clock;

namespace {

using small = std::uint64_t;  // 16-byte slots: the write index is published every few pushes
using big = indexed<8>;       // 72 bytes, 128-byte slots: read behind the index (published every push)
static_assert(!que::spmc::detail::read_behind_index<small>);
static_assert(que::spmc::detail::read_behind_index<big>);

template <class M>
M make_msg(std::uint64_t i) {
    if constexpr (std::is_same_v<M, small>) return i;
    else return M::make(i);
}
template <class M>
std::uint64_t index_of(const M& m) {
    if constexpr (std::is_same_v<M, small>) return m;
    else return m.seq();
}

const char* name_of(lap_policy p) { return p == lap_policy::oldest ? "oldest" : "latest"; }

}  // namespace

// ---- point 2: lap policies ----------------------------------------------------

TEMPLATE_TEST_CASE("spmc lap policy: a consumer lapped by a known amount lands where its policy says", "[spmc][lap]",
                   small, big) {
    using M = TestType;
    // N = 8: lap_headroom 1. oldest lands on newest - N + 1 + 1 = newest - 6;
    // latest on the newest complete message, pushed - 1.
    constexpr std::size_t N = 8;
    auto [tx, oldest] = que::spmc::make<M, N>();
    auto latest = tx.subscribe({.on_lap = lap_policy::latest});
    CHECK(oldest.on_lap() == lap_policy::oldest);
    CHECK(latest.on_lap() == lap_policy::latest);
    auto late_odd = tx.subscribe({.stride = 3, .offset = 1, .on_lap = lap_policy::latest});
    auto late_even = tx.subscribe({.stride = 3, .offset = 2, .on_lap = lap_policy::latest});
    M m{};

    SECTION("flushed: 20 pushed") {
        for (std::uint64_t i = 0; i < 20; ++i) tx.push(make_msg<M>(i));
        tx.flush();
        auto r = oldest.read(m);
        CHECK(r.status == read_status::lapped);
        CHECK(r.skipped == 14);
        CHECK(oldest.next_index() == 14);
        r = latest.read(m);
        CHECK(r.status == read_status::lapped);
        CHECK(r.skipped == 19);
        CHECK(latest.next_index() == 19);
        for (std::uint64_t i = 14; i < 20; ++i) {
            REQUIRE(oldest.read(m).status == read_status::ok);
            CHECK(index_of(m) == i);
        }
        REQUIRE(latest.read(m).status == read_status::ok);
        CHECK(index_of(m) == 19);
        CHECK(oldest.read(m).status == read_status::empty);
        CHECK(latest.read(m).status == read_status::empty);
        CHECK(oldest.missed() + 6 == 20);
        CHECK(latest.missed() + 1 == 20);
        // Strided: the newest complete index is 19; the share of offset 1
        // holds it (19 = 1 mod 3), the share of offset 2 goes on at 20.
        r = late_odd.read(m);
        CHECK(r.status == read_status::lapped);
        CHECK(late_odd.next_index() == 19);
        CHECK(r.skipped == (19 - 1) / 3);
        REQUIRE(late_odd.read(m).status == read_status::ok);
        CHECK(index_of(m) == 19);
        r = late_even.read(m);
        CHECK(r.status == read_status::lapped);
        CHECK(late_even.next_index() == 20);
        CHECK(r.skipped == (20 - 2) / 3);
        CHECK(late_even.read(m).status == read_status::empty);
        tx.push(make_msg<M>(20));
        REQUIRE(late_even.read(m).status == read_status::ok);
        CHECK(index_of(m) == 20);
        CHECK(late_even.missed() + 1 == 7);  // its share below 21: 2, 5, ..., 20
    }
    SECTION("not flushed: latest still finds the newest complete message") {
        for (std::uint64_t i = 0; i < 19; ++i) tx.push(make_msg<M>(i));  // small: published 18 of 19
        REQUIRE(latest.try_pop(m));
        CHECK(index_of(m) == 18);
        CHECK(latest.missed() == 18);
        CHECK_FALSE(latest.try_pop(m));
        REQUIRE(oldest.try_pop(m));
        CHECK(index_of(m) >= 19 - N + 1);  // never one the producer overwrote
        std::uint64_t got = 1;
        while (oldest.try_pop(m)) ++got;
        CHECK(oldest.missed() + got == 19);
    }
    SECTION("lapped again and again, latest always resumes at the newest") {
        for (std::uint64_t round = 1; round <= 5; ++round) {
            for (std::uint64_t i = 0; i < 3 * N; ++i) tx.push(make_msg<M>(tx.pushed()));
            REQUIRE(latest.try_pop(m));
            CHECK(index_of(m) == tx.pushed() - 1);
            CHECK_FALSE(latest.try_pop(m));
            CHECK(latest.missed() + round == tx.pushed());
        }
    }
}

namespace {

// A single-threaded random schedule: bursts of pushes, bursts of reads by
// four consumers with `policy` (two broadcast, two splitting the stream),
// every outcome recorded per index. Returns after checking the accounting.
template <class M, std::size_t N>
void random_schedule(lap_policy policy, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto [tx, a] = que::spmc::make<M, N>({}, {.on_lap = policy});
    std::vector<que::spmc::consumer<M, N>> rxs;
    rxs.push_back(std::move(a));
    rxs.push_back(tx.subscribe({.on_lap = policy}));
    rxs.push_back(tx.subscribe({.stride = 2, .offset = 0, .on_lap = policy}));
    rxs.push_back(tx.subscribe({.stride = 2, .offset = 1, .on_lap = policy}));
    const std::uint64_t total = 100000;
    std::vector<ledger> books;
    for (std::size_t c = 0; c < rxs.size(); ++c) books.emplace_back(total);
    std::uint64_t produced = 0;
    M m{};
    auto step = [&](std::size_t c, int reads) {
        for (int i = 0; i < reads; ++i) {
            const std::uint64_t at = rxs[c].next_index();
            const auto r = rxs[c].read(m);
            if (r.status == read_status::ok) {
                ++books[c].received;
                if (index_of(m) != at) ++books[c].wrong_index;
                if constexpr (!std::is_same_v<M, small>)
                    if (!m.intact()) ++books[c].torn;
                books[c].note(at, 1);
            } else if (r.status == read_status::lapped) {
                books[c].skipped(at, rxs[c].stride(), r.skipped);
            } else {
                break;
            }
        }
    };
    while (produced < total) {
        const auto burst = static_cast<std::uint64_t>(rng() % (3 * N));
        for (std::uint64_t i = 0; i < burst && produced < total; ++i) tx.push(make_msg<M>(produced++));
        for (std::size_t c = 0; c < rxs.size(); ++c) step(c, static_cast<int>(rng() % N));
    }
    tx.flush();
    for (std::size_t c = 0; c < rxs.size(); ++c) step(c, 1 << 30);
    INFO("policy " << name_of(policy));
    for (std::size_t c = 0; c < rxs.size(); ++c) {
        INFO("consumer " << c << ": " << books[c]);
        CHECK(books[c].wrong_index == 0);
        CHECK(books[c].torn == 0);
        CHECK(books[c].double_count == 0);
        CHECK(books[c].beyond_end == 0);
        CHECK(books[c].missed == rxs[c].missed());
        CHECK(books[c].laps > 0);
        CHECK(rxs[c].next_index() >= total);
    }
    // Broadcast consumers: received + missed == produced, each index once.
    for (std::size_t c = 0; c < 2; ++c) {
        CHECK(books[c].received + books[c].missed == total);
        CHECK(spmc_test::uncovered({&books[c]}, total) == 0);
    }
    // The two halves: every index exactly once between them.
    CHECK(books[2].received + books[2].missed + books[3].received + books[3].missed == total);
    CHECK(spmc_test::uncovered({&books[2], &books[3]}, total) == 0);
    std::cout << "spmc lap policy " << name_of(policy) << " (slot " << que::spmc::detail::slot_size<M>
              << " B): broadcast received " << books[0].received << " missed " << books[0].missed << " of " << total
              << "\n";
}

}  // namespace

TEST_CASE("spmc lap policy: random schedules, received + missed == produced once drained, strided too", "[spmc][lap]") {
    for (const lap_policy p : {lap_policy::oldest, lap_policy::latest}) {
        random_schedule<small, 16>(p, 41);
        random_schedule<big, 16>(p, 42);
        random_schedule<small, 64>(p, 43);
    }
}

TEST_CASE("spmc lap policy: threads, a slow consumer per policy, every message checked", "[spmc][lap]") {
    constexpr std::size_t N = 256;
    const std::uint64_t total = que_test::scaled(400'000);
    std::cout << "spmc lap policy threads: " << total << " messages (divisor " << QUE_TEST_SCALE_DIVISOR << ")\n";
    auto [tx, first] = que::spmc::make<indexed<4>, N>({}, {.on_lap = lap_policy::oldest});
    auto second = tx.subscribe({.on_lap = lap_policy::latest});
    std::atomic<bool> done{false};
    std::vector<ledger> books;
    books.emplace_back(total);
    books.emplace_back(total);
    auto run = [&](que::spmc::consumer<indexed<4>, N>& rx, ledger& book) {
        // Yield on empty (oversubscribed: the producer must get the CPU).
        spmc_test::drain(rx, book, spmc_test::how::read, [&] { return done.load(std::memory_order_acquire); },
                         [] { std::this_thread::yield(); });
    };
    std::thread c1([&, &rx = first] { run(rx, books[0]); });
    std::thread c2([&] { run(second, books[1]); });
    for (std::uint64_t i = 0; i < total; ++i) {
        tx.push(indexed<4>::make(i));
        if (i % 1024 == 1023) std::this_thread::yield();  // pacing only: the consumers get the CPU too
    }
    tx.flush();
    done.store(true, std::memory_order_release);
    c1.join();
    c2.join();
    for (std::size_t c = 0; c < 2; ++c) {
        INFO((c == 0 ? "oldest: " : "latest: ") << books[c]);
        std::cout << "  " << (c == 0 ? "oldest: " : "latest: ") << books[c] << "\n";
        CHECK(books[c].torn == 0);
        CHECK(books[c].wrong_index == 0);
        CHECK(books[c].double_count == 0);
        CHECK(books[c].beyond_end == 0);
        CHECK(books[c].received + books[c].missed == total);
        CHECK(books[c].reported_missed == books[c].missed);
        CHECK(spmc_test::uncovered({&books[c]}, total) == 0);
    }
}

// ---- point 3: end of stream -----------------------------------------------------

TEMPLATE_TEST_CASE("spmc close: consumers drain what was pushed before close, then see closed", "[spmc][close]", small,
                   big) {
    using M = TestType;
    constexpr std::size_t N = 64;
    M m{};
    SECTION("close()") {
        auto [tx, rx] = que::spmc::make<M, N>();
        auto rx2 = tx.subscribe({.stride = 2, .offset = 1});
        for (std::uint64_t i = 0; i < 10; ++i) tx.push(make_msg<M>(i));  // small: not all published
        CHECK_FALSE(rx.closed());
        CHECK_FALSE(tx.closed());
        tx.close();
        CHECK(tx.closed());
        CHECK(rx.closed());
        for (std::uint64_t i = 0; i < 10; ++i) {
            REQUIRE(rx.pop_for(m, 0ms) == que::status::ok);
            CHECK(index_of(m) == i);
        }
        CHECK(rx.pop_for(m, 10s) == que::status::closed);
        CHECK(rx.template pop_until<que::wait::sleep>(m, clock_type::now() + 10s) == que::status::closed);
        CHECK_FALSE(rx.try_pop(m));
        CHECK(rx.closed());
        for (std::uint64_t i = 1; i < 10; i += 2) {
            REQUIRE(rx2.pop(m) == que::status::ok);
            CHECK(index_of(m) == i);
        }
        CHECK(rx2.pop_for(m, 10s) == que::status::closed);
        CHECK(rx.missed() == 0);
        CHECK(rx2.missed() == 0);
        // A consumer joining a closed stream: closed at once once drained.
        auto late = tx.subscribe({.start = que::spmc::start_at::latest});
        CHECK(late.pop_for(m, 10s) == que::status::closed);
    }
    SECTION("the producer's destruction") {
        std::error_code ec;
        que::detail::mapping seg = que::heap{}.attach(que::spmc::detail::spec<M, N>(), ec);
        REQUIRE(!ec);
        auto rx = que::spmc::consumer<M, N>::open(joined{seg});
        {
            auto tx = que::spmc::producer<M, N>::open(joined{seg});
            for (std::uint64_t i = 0; i < 5; ++i) tx.push(make_msg<M>(i));
        }
        CHECK(rx.closed());
        for (std::uint64_t i = 0; i < 5; ++i) {
            REQUIRE(rx.pop(m) == que::status::ok);
            CHECK(index_of(m) == i);
        }
        CHECK(rx.pop_for(m, 10s) == que::status::closed);
        // A producer that opens the ring later reopens the stream.
        auto tx2 = que::spmc::producer<M, N>::open(joined{seg});
        CHECK_FALSE(rx.closed());
        CHECK_FALSE(tx2.closed());
        CHECK(rx.pop_for(m, 1ms) == que::status::timeout);
        tx2.push(make_msg<M>(5));
        REQUIRE(rx.pop(m) == que::status::ok);
        CHECK(index_of(m) == 5);
        tx2.close();
        CHECK(rx.pop_for(m, 10s) == que::status::closed);
    }
    SECTION("a moved-from or refused producer does not close the stream") {
        auto [tx, rx] = que::spmc::make<M, N>();
        auto moved = std::move(tx);
        tx.close();  // NOLINT: moved-from on purpose
        CHECK_FALSE(tx.closed());
        CHECK_FALSE(rx.closed());
        que::spmc::producer<M, N> none;
        none.close();
        CHECK_FALSE(none.closed());
        que::spmc::consumer<M, N> no_rx;
        CHECK_FALSE(no_rx.closed());
        CHECK_FALSE(no_rx.replaced());
        CHECK_FALSE(rx.replaced());  // heap: no name
        moved.close();
        CHECK(rx.closed());
    }
}

namespace {
// wait::sleep with no spin or yield phase: asleep on the futex at once.
struct sleep_now : que::wait::sleep {
    static constexpr std::uint32_t spins = 0, yields = 0;
};
}  // namespace

TEST_CASE("spmc close: a consumer asleep in pop sees the close", "[spmc][close]") {
    auto [tx, rx_] = que::spmc::make<indexed<4>, 64>();
    auto& rx = rx_;  // clang 14 cannot capture a structured binding
    std::atomic<bool> started{false};
    que::status st = que::status::ok;
    clock_type::duration took{};
    std::thread consumer([&] {
        indexed<4> m{};
        started.store(true, std::memory_order_release);
        const auto t0 = clock_type::now();
        st = rx.pop_for<sleep_now>(m, 30s);
        took = clock_type::now() - t0;
    });
    while (!started.load(std::memory_order_acquire)) std::this_thread::yield();
    std::this_thread::sleep_for(50ms);  // pacing only: lets it fall asleep
    tx.close();
    consumer.join();
    const double took_ms = std::chrono::duration<double, std::milli>(took).count();
    INFO("returned after " << took_ms << " ms");
    CHECK(st == que::status::closed);
    CHECK(took < 1s);
}

namespace {

// A producer thread pushes `total` messages and closes; each consumer pops
// until status::closed. Checks every message and that nothing pushed before
// close is left unread when a consumer reports closed.
template <class M, std::size_t N>
void close_race(std::uint64_t total, lap_policy policy) {
    auto [tx, first] = que::spmc::make<M, N>({}, {.on_lap = policy});
    std::vector<que::spmc::consumer<M, N>> rxs;
    rxs.push_back(std::move(first));
    rxs.push_back(tx.subscribe({.stride = 3, .offset = 2, .on_lap = policy}));
    std::vector<ledger> books;
    for (std::size_t c = 0; c < rxs.size(); ++c) books.emplace_back(total);
    std::vector<que::status> ends(rxs.size(), que::status::ok);
    std::vector<std::thread> threads;
    for (std::size_t c = 0; c < rxs.size(); ++c) {
        threads.emplace_back([&, c] {
            auto& rx = rxs[c];
            spmc_test::gap_tracker gaps{rx.next_index(), rx.stride()};
            M m{};
            que::status s;
            // wait::sleep: oversubscribed (three threads on two CPUs).
            while ((s = rx.template pop_for<que::wait::sleep>(m, 30s)) == que::status::ok) {
                if constexpr (std::is_same_v<M, small>) {
                    spmc_test::indexed<2> as = spmc_test::indexed<2>::make(m);
                    gaps.got(books[c], as);
                } else {
                    gaps.got(books[c], m);
                }
            }
            ends[c] = s;
            gaps.finish(books[c], rx.next_index());
            books[c].reported_missed = rx.missed();
            books[c].final_next = rx.next_index();
        });
    }
    for (std::uint64_t i = 0; i < total; ++i) {
        tx.push(make_msg<M>(i));
        if (i % 512 == 511) std::this_thread::yield();  // let consumers keep up some of the time
    }
    tx.close();
    for (auto& t : threads) t.join();
    for (std::size_t c = 0; c < rxs.size(); ++c) {
        const std::uint64_t stride = rxs[c].stride(), offset = rxs[c].offset();
        const std::uint64_t share = (total - offset + stride - 1) / stride;
        INFO("policy " << name_of(policy) << " consumer " << c << ": " << books[c] << " end "
                       << que::to_string(ends[c]));
        CHECK(ends[c] == que::status::closed);
        CHECK(books[c].torn == 0);
        CHECK(books[c].wrong_index == 0);
        CHECK(books[c].double_count == 0);
        CHECK(books[c].beyond_end == 0);
        // Closed only once drained: the last message of its share was read
        // (or skipped), so its position is past the end.
        CHECK(books[c].received + books[c].missed == share);
        CHECK(books[c].reported_missed == books[c].missed);
        CHECK(books[c].final_next >= total);
    }
}

}  // namespace

TEST_CASE("spmc close: producer and consumer threads race to the end, closed never leaves a message unread",
          "[spmc][close]") {
    const std::uint64_t total = que_test::scaled(200'000);
    std::cout << "spmc close race: " << total << " messages per run (divisor " << QUE_TEST_SCALE_DIVISOR << ")\n";
    for (const lap_policy p : {lap_policy::oldest, lap_policy::latest}) {
        close_race<small, 1024>(total, p);
        close_race<big, 1024>(total, p);
    }
    // Many short streams: the end is reached often, at any point of a wait.
    for (int round = 0; round < 200; ++round) close_race<small, 64>(50 + static_cast<std::uint64_t>(round), lap_policy::oldest);
}

// ---- over que::shm, between processes ------------------------------------------

namespace {

using tick = indexed<4>;
constexpr std::size_t ring = 1024;  // holds every message of these tests: nothing is lapped

// Producer child: opens `where`, pushes [from, from + count), then closes
// (explicit) or just leaves (destruction).
int produce(const que::shm& where, std::uint64_t from, std::uint64_t count, bool explicit_close) {
    std::error_code ec;
    auto tx = que::spmc::producer<tick, ring>::open(where, ec);
    if (ec) return 10;
    for (std::uint64_t i = from; i < from + count; ++i) tx.push(tick::make(i));
    if (explicit_close) tx.close();
    return 0;
}

// Pops until not ok; every message must be the next index from `from`.
que::status consume(que::spmc::consumer<tick, ring>& rx, std::uint64_t from, std::uint64_t& got) {
    tick m{};
    que::status s;
    while ((s = rx.pop_for(m, 30s)) == que::status::ok) {
        if (!m.intact() || m.seq() != from + got) return que::status::timeout;  // reported as a failure
        ++got;
    }
    return s;
}

}  // namespace

TEST_CASE("spmc close over shm: a producer process closes or exits, the consumer drains then sees closed",
          "[spmc][close][shm]") {
    const std::string name = shm_test::unique_name("spmc-close");
    shm_test::name_guard guard(que::shm{name});
    auto rx = que::spmc::consumer<tick, ring>::open(que::shm{name});
    const bool explicit_close = GENERATE(true, false);
    INFO((explicit_close ? "close()" : "destruction"));
    shm_test::child producer([&] { return produce(que::shm{name, {.mode = que::open_mode::open}}, 0, 500, explicit_close); });
    std::uint64_t got = 0;
    const que::status s = consume(rx, 0, got);
    CHECK(producer.exit_code() == 0);
    CHECK(s == que::status::closed);
    CHECK(got == 500);
    CHECK(rx.missed() == 0);
    CHECK(rx.closed());
    CHECK_FALSE(rx.replaced());
    // A new producer process reopens the stream and continues the indices.
    shm_test::child again([&] { return produce(que::shm{name, {.mode = que::open_mode::open}}, 500, 20, explicit_close); });
    const que::status s2 = consume(rx, 0, got);
    CHECK(again.exit_code() == 0);
    // The consumer may have looked before the new producer reopened: it
    // then saw the old end; pop again once the child is gone.
    const que::status s3 = s2 == que::status::closed && got == 500 ? consume(rx, 0, got) : s2;
    CHECK(s3 == que::status::closed);
    CHECK(got == 520);
}

TEST_CASE("spmc over shm: a producer restarted with remove_on_close makes a new segment, the old consumer learns it",
          "[spmc][shm][replaced]") {
    const std::string name = shm_test::unique_name("spmc-restart");
    shm_test::name_guard guard(que::shm{name});
    const que::shm feed{name, {.remove_on_close = true}};
    // The first feed runs, the strategy subscribes, the feed exits normally.
    shm_test::start_gate go;
    shm_test::child first([&] {
        std::error_code ec;
        auto tx = que::spmc::producer<tick, ring>::open(feed, ec);
        if (ec) return 10;
        go.wait_in_child();
        for (std::uint64_t i = 0; i < 100; ++i) tx.push(tick::make(i));
        return 0;  // destruction: close, then the name goes
    });
    const auto limit = clock_type::now() + 10s;
    while (!shm_test::exists_in_dev_shm(name) && clock_type::now() < limit) std::this_thread::sleep_for(1ms);
    std::error_code ec;
    auto rx = que::spmc::consumer<tick, ring>::open(que::shm{name, {.mode = que::open_mode::open}}, ec);
    // open may beat the creator's initialisation: the join waits for it.
    REQUIRE(!ec);
    CHECK_FALSE(rx.replaced());
    go.open();
    std::uint64_t got = 0;
    CHECK(consume(rx, 0, got) == que::status::closed);
    CHECK(got == 100);
    CHECK(first.exit_code() == 0);
    CHECK(rx.replaced());  // removed with the first feed
    // The feed restarts: a fresh segment under the name.
    shm_test::start_gate go2;
    shm_test::child second([&] {
        std::error_code e;
        auto tx = que::spmc::producer<tick, ring>::open(feed, e);
        if (e) return 10;
        go2.wait_in_child();
        for (std::uint64_t i = 0; i < 50; ++i) tx.push(tick::make(i));
        tx.flush();
        for (;;) ::pause();  // stays up until killed
    });
    while (!shm_test::exists_in_dev_shm(name) && clock_type::now() < limit) std::this_thread::sleep_for(1ms);
    CHECK(rx.replaced());
    tick left{};
    CHECK(rx.pop_for(left, 0ms) == que::status::closed);  // the old stream stays ended
    // What the strategy does on replaced(): reopen the name.
    auto fresh = que::spmc::consumer<tick, ring>::open(que::shm{name, {.mode = que::open_mode::open}});
    CHECK_FALSE(fresh.replaced());
    go2.open();
    tick m{};
    for (std::uint64_t i = 0; i < 50; ++i) {
        REQUIRE(fresh.pop_for(m, 30s) == que::status::ok);
        CHECK((m.intact() && m.seq() == i));
    }
    ::kill(second.pid(), SIGKILL);
    CHECK(second.exit_code() == 1000 + SIGKILL);
}

TEST_CASE("spmc over shm: a waiting pop returns status::replaced when its segment's name leads elsewhere",
          "[spmc][shm][replaced]") {
    const std::string name = shm_test::unique_name("spmc-replaced");
    shm_test::name_guard guard(que::shm{name});
    tick m{};
    for (const bool sleeping : {false, true}) {
        INFO((sleeping ? "wait::sleep" : "wait::spin"));
        auto wait_for = [&](que::spmc::consumer<tick, ring>& c, auto d) {
            return sleeping ? c.pop_for<que::wait::sleep>(m, d) : c.pop_for<que::wait::spin>(m, d);
        };
        SECTION(std::string("removed, and no producer: nobody can join it any more ") + (sleeping ? "sleep" : "spin")) {
            auto rx = que::spmc::consumer<tick, ring>::open(que::shm{name});  // creates it
            CHECK(wait_for(rx, 30ms) == que::status::timeout);
            CHECK(que::shm_remove(name));
            CHECK(rx.replaced());
            const auto t0 = clock_type::now();
            CHECK(wait_for(rx, 30s) == que::status::replaced);
            CHECK(clock_type::now() - t0 < 5s);  // found at a liveness check (every 20 ms)
        }
        SECTION(std::string("removed while its producer lives (unlink after attach): still waited on ") +
                (sleeping ? "sleep" : "spin")) {
            auto tx = que::spmc::producer<tick, ring>::open(que::shm{name});
            auto rx = que::spmc::consumer<tick, ring>::open(que::shm{name});
            CHECK(que::shm_remove(name));
            CHECK(rx.replaced());
            CHECK(wait_for(rx, 100ms) == que::status::timeout);
            tx.push(tick::make(0));
            REQUIRE(wait_for(rx, 30s) == que::status::ok);
            CHECK(m.seq() == 0);
        }
        SECTION(std::string("a new segment under the name, old producer alive: replaced ") +
                (sleeping ? "sleep" : "spin")) {
            auto tx = que::spmc::producer<tick, ring>::open(que::shm{name});
            auto rx = que::spmc::consumer<tick, ring>::open(que::shm{name});
            tx.push(tick::make(0));
            CHECK(que::shm_remove(name));
            auto tx2 = que::spmc::producer<tick, ring>::open(que::shm{name});  // the new channel
            CHECK(rx.replaced());
            CHECK_FALSE(tx2.replaced());
            CHECK(tx.replaced());
            REQUIRE(wait_for(rx, 30s) == que::status::ok);  // what is left is still read first
            CHECK(m.seq() == 0);
            CHECK(wait_for(rx, 30s) == que::status::replaced);
        }
    }
}

// ---- point 5: one default wait strategy ----------------------------------------

TEST_CASE("wait strategy: blocking calls of both kinds default to wait::spin", "[spmc][wait][defaults]") {
    using C = que::spmc::consumer<tick, 64>;
    // The default template argument names the same specialisation as spin.
    CHECK((&C::pop<> == &C::pop<que::wait::spin>));
    CHECK_FALSE((&C::pop<> == &C::pop<que::wait::sleep>));
    CHECK((&C::pop_until<> == &C::pop_until<que::wait::spin>));
    CHECK_FALSE((&C::pop_until<> == &C::pop_until<que::wait::sleep>));
    using D = std::chrono::milliseconds;
    using pop_for_ms = que::status (C::*)(tick&, const D&) noexcept;
    CHECK((static_cast<pop_for_ms>(&C::pop_for) == &C::pop_for<que::wait::spin, D::rep, D::period>));
    CHECK_FALSE((static_cast<pop_for_ms>(&C::pop_for) == &C::pop_for<que::wait::sleep, D::rep, D::period>));
    STATIC_REQUIRE(std::is_same_v<que::spsc::producer<tick, 64>, que::spsc::producer<tick, 64, que::wait::spin>>);
    STATIC_REQUIRE(std::is_same_v<que::spsc::consumer<tick, 64>, que::spsc::consumer<tick, 64, que::wait::spin>>);
}
