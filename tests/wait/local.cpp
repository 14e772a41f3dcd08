// Waiting, closing and timeouts between threads of one process.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <thread>

#include <que/backing/shm.hpp>

#include "support.hpp"

using namespace que_test;
using que::status;

namespace {

double ms(clock_type::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

template <class W>
void close_drain_end() {
    auto ch = que::spsc::make<msg, 8, W>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    for (std::uint64_t i = 0; i < 5; ++i) REQUIRE(tx.try_push(make_msg(i)));
    CHECK_FALSE(rx.closed());
    tx.close();
    CHECK(rx.closed());
    CHECK(tx.closed());
    // Everything sent before close() is delivered, in order, by every pop flavour.
    msg m{};
    REQUIRE(rx.pop(m) == status::ok);
    CHECK(m.seq == 0);
    REQUIRE(rx.pop_for(m, 10s) == status::ok);
    CHECK(m.seq == 1);
    std::optional<msg> o = rx.pop_for(10s);
    REQUIRE(o);
    CHECK(o->seq == 2);
    REQUIRE(rx.try_pop(m));
    CHECK(m.seq == 3);
    const msg last = rx.pop();
    CHECK(last.seq == 4);
    CHECK(last.check == check_of(4));
    // Drained: try_pop says empty; blocking pops end at once, not after a wait.
    CHECK_FALSE(rx.try_pop(m));
    const auto t0 = clock_type::now();
    CHECK(rx.pop(m) == status::closed);
    CHECK(rx.pop_for(m, 10s) == status::closed);
    CHECK_FALSE(rx.pop_for(10s).has_value());
    // (T pop() here would abort with a message: tests/spsc/closed.cpp.)
    CHECK(clock_type::now() - t0 < 5s);
    CHECK(m.seq == 3);  // untouched by the failed pops
}

template <class W>
void consumer_close_seen_by_producer() {
    auto ch = que::spsc::make<msg, 4, W>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    CHECK_FALSE(tx.closed());
    rx.close();
    CHECK(tx.closed());
    // Room left: accepted (documented); full: closed instead of waiting.
    for (std::uint64_t i = 0; i < 4; ++i) CHECK(tx.push(make_msg(i)) == status::ok);
    const auto t0 = clock_type::now();
    CHECK(tx.push(make_msg(4)) == status::closed);
    CHECK(tx.push_for(make_msg(4), 10s) == status::closed);
    CHECK(clock_type::now() - t0 < 5s);
}

template <class W>
void timeouts_honoured() {
    auto ch = que::spsc::make<msg, 2, W>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    for (const auto d : {0ms, 1ms, 10ms, 50ms, 120ms}) {
        msg m{};
        auto t0 = clock_type::now();
        CHECK(rx.pop_for(m, d) == status::timeout);
        auto took = clock_type::now() - t0;
        INFO("pop_for(" << d.count() << " ms) returned after "
                        << ms(took) << " ms");
        CHECK(took >= d);
        CHECK(took < d + 200ms);

        t0 = clock_type::now();
        CHECK_FALSE(rx.pop_for(d).has_value());
        took = clock_type::now() - t0;
        CHECK(took >= d);
        CHECK(took < d + 200ms);
    }
    REQUIRE(tx.try_push(make_msg(0)));
    REQUIRE(tx.try_push(make_msg(1)));
    for (const auto d : {0ms, 1ms, 10ms, 50ms}) {
        const auto t0 = clock_type::now();
        CHECK(tx.push_for(make_msg(2), d) == status::timeout);
        const auto took = clock_type::now() - t0;
        INFO("push_for(" << d.count() << " ms) returned after "
                         << ms(took) << " ms");
        CHECK(took >= d);
        CHECK(took < d + 200ms);
    }
    // A pending message is returned at once, whatever the timeout.
    msg m{};
    CHECK(rx.pop_for(m, 0ms) == status::ok);
    CHECK(m.seq == 0);
    CHECK(tx.push_for(make_msg(2), 0ms) == status::ok);
    // Overflow-proof "forever" timeouts still return data at once.
    CHECK(rx.pop_for(m, std::chrono::hours::max()) == status::ok);
    CHECK(m.seq == 1);
    CHECK(rx.pop_for(m, std::chrono::nanoseconds::max()) == status::ok);
    CHECK(m.seq == 2);
}

// A producer thread pushes messages 0..count-1 and closes; this thread pops
// until the stream ends, checking each message's order and integrity.
struct stream_result {
    bool producer_ok = true;      // every push returned ok
    status end = status::ok;      // what ended the consumer's loop
    std::uint64_t received = 0;   // messages popped
    std::uint64_t bad = 0;        // out of order or failing their check
    std::uint64_t sum = 0;        // of the sequence numbers received
};

template <class Producer, class Consumer>
stream_result stream_then_close(Producer& tx, Consumer& rx, std::uint64_t count) {
    std::atomic<bool> producer_ok{true};
    std::thread producer([&] {
        for (std::uint64_t i = 0; i < count; ++i) {
            if (tx.push(make_msg(i)) != status::ok) {
                producer_ok = false;
                return;
            }
        }
        tx.close();
    });
    stream_result r;
    msg m{};
    while ((r.end = rx.pop(m)) == status::ok) {
        if (m.seq != r.received || m.check != check_of(m.seq)) ++r.bad;
        r.sum += m.seq;
        ++r.received;
    }
    producer.join();
    r.producer_ok = producer_ok;
    return r;
}

// N messages through a ring of capacity Cap, both sides of strategy W;
// every message checked (order, integrity); nothing lost or duplicated. A
// lost wake-up hangs, which the test's TIMEOUT turns into a failure.
template <std::size_t Cap, class W>
void handoffs(std::uint64_t count) {
    auto ch = que::spsc::make<msg, Cap, W>();
    auto& rx = ch.second;
    const stream_result r = stream_then_close(ch.first, rx, count);
    const auto* pb = producer_block_of(rx);
    const auto* cb = consumer_block_of(rx);
    // Each futex word is bumped once per wake of a sleeper (plus close).
    const std::uint32_t consumer_wakes = pb->data_futex.load();
    const std::uint32_t producer_wakes = cb->space_futex.load();
    std::printf("handoffs<N=%zu>: %llu messages (10^6 / QUE_TEST_SCALE_DIVISOR=%d); the producer woke the "
                "consumer %u times, the consumer woke the producer %u times\n",
                Cap, static_cast<unsigned long long>(count), QUE_TEST_SCALE_DIVISOR, consumer_wakes,
                producer_wakes);
    INFO("messages " << count << ", consumer woken " << consumer_wakes << ", producer woken " << producer_wakes);
    CHECK(r.producer_ok);
    CHECK(r.end == status::closed);
    CHECK(r.received == count);
    CHECK(r.bad == 0);
    CHECK(r.sum == count * (count - 1) / 2);
    // The test is about the sleep path: it must actually have been taken.
    CHECK(consumer_wakes + producer_wakes > count / 100);
}

} // namespace

TEST_CASE("close, drain, end of stream (spin strategy)", "[wait][close]") { close_drain_end<que::wait::spin>(); }
TEST_CASE("close, drain, end of stream (sleep strategy)", "[wait][close]") { close_drain_end<que::wait::sleep>(); }

TEST_CASE("a consumer that closed is seen by the producer (spin)", "[wait][close]") {
    consumer_close_seen_by_producer<que::wait::spin>();
}
TEST_CASE("a consumer that closed is seen by the producer (sleep)", "[wait][close]") {
    consumer_close_seen_by_producer<que::wait::sleep>();
}

TEST_CASE("destroying the producer ends the stream, destroying the consumer closes it for the producer",
          "[wait][close]") {
    {
        auto ch = que::spsc::make<msg, 8, que::wait::sleep>();
        REQUIRE(ch.first.try_push(make_msg(7)));
        CHECK(ch.second.peer_alive());
        ch.first = {};  // destroys the producer's role: closes
        CHECK_FALSE(ch.second.peer_alive());
        msg m{};
        CHECK(ch.second.pop(m) == status::ok);
        CHECK(m.seq == 7);
        CHECK(ch.second.pop(m) == status::closed);
    }
    {
        auto ch = que::spsc::make<msg, 1, que::wait::sleep>();
        CHECK(ch.first.peer_alive());
        ch.second = {};
        CHECK_FALSE(ch.first.peer_alive());
        CHECK(ch.first.push(make_msg(0)) == status::ok);
        CHECK(ch.first.push(make_msg(1)) == status::closed);
    }
}

TEST_CASE("close() wakes a consumer asleep in pop", "[wait][close]") {
    auto ch = que::spsc::make<msg, 4, deaf_sleep>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    status got = status::ok;
    std::atomic<bool> done{false};
    std::thread consumer([&] {
        msg m{};
        got = rx.pop(m);
        done = true;
    });
    // Wait until it is really asleep: it has registered as a waiter.
    REQUIRE(eventually([&] { return producer_block_of(tx)->data_waiters.load() == 1; }));
    const auto t0 = clock_type::now();
    tx.close();
    consumer.join();
    // deaf_sleep would not wake by itself for 1000 s.
    CHECK(clock_type::now() - t0 < 10s);
    CHECK(done);
    CHECK(got == status::closed);
}

TEST_CASE("close() by the consumer wakes a producer asleep in push", "[wait][close]") {
    auto ch = que::spsc::make<msg, 2, deaf_sleep>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    REQUIRE(tx.try_push(make_msg(0)));
    REQUIRE(tx.try_push(make_msg(1)));
    status got = status::ok;
    std::thread producer([&] { got = tx.push(make_msg(2)); });
    REQUIRE(eventually([&] { return consumer_block_of(rx)->space_waiters.load() == 1; }));
    const auto t0 = clock_type::now();
    rx.close();
    producer.join();
    CHECK(clock_type::now() - t0 < 10s);
    CHECK(got == status::closed);
}

TEST_CASE("a message wakes a consumer asleep in pop, and space a producer asleep in push", "[wait]") {
    auto ch = que::spsc::make<msg, 1, deaf_sleep>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    msg m{};
    status got = status::closed;
    std::thread consumer([&] { got = rx.pop(m); });
    REQUIRE(eventually([&] { return producer_block_of(tx)->data_waiters.load() == 1; }));
    CHECK(tx.try_push(make_msg(41)));
    consumer.join();
    CHECK(got == status::ok);
    CHECK(m.seq == 41);

    REQUIRE(tx.try_push(make_msg(42)));
    status pushed = status::closed;
    std::thread producer([&] { pushed = tx.push(make_msg(43)); });
    REQUIRE(eventually([&] { return consumer_block_of(rx)->space_waiters.load() == 1; }));
    REQUIRE(rx.try_pop(m));
    CHECK(m.seq == 42);
    producer.join();
    CHECK(pushed == status::ok);
    REQUIRE(rx.try_pop(m));
    CHECK(m.seq == 43);
}

TEST_CASE("timeouts are honoured (spin strategy)", "[wait][timeout]") { timeouts_honoured<que::wait::spin>(); }
TEST_CASE("timeouts are honoured (sleep strategy)", "[wait][timeout]") { timeouts_honoured<que::wait::sleep>(); }

TEST_CASE("a consumer blocked for a second uses under 5% of a CPU", "[wait][cpu]") {
    auto ch = que::spsc::make<msg, 64, que::wait::sleep>();
    auto& rx = ch.second;
    std::chrono::microseconds cpu{};
    std::chrono::steady_clock::duration wall{};
    status got = status::ok;
    std::thread consumer([&] {
        msg m{};
        const auto c0 = thread_cpu_time();
        const auto t0 = clock_type::now();
        got = rx.pop_for(m, 1s);
        wall = clock_type::now() - t0;
        cpu = thread_cpu_time() - c0;
    });
    consumer.join();
    std::printf("blocked consumer: %.3f ms CPU over %.3f ms waiting\n", static_cast<double>(cpu.count()) / 1e3,
                std::chrono::duration<double, std::milli>(wall).count());
    CHECK(got == status::timeout);
    CHECK(wall >= 1s);
    CHECK(cpu < 50ms);
}

TEST_CASE("no lost wake-up: 10^6 sleep/wake hand-offs through a ring of 1", "[wait][handoff]") {
    handoffs<1, deaf_sleep>(scaled(1'000'000));
}
TEST_CASE("no lost wake-up: 10^6 sleep/wake hand-offs through a ring of 2", "[wait][handoff]") {
    handoffs<2, deaf_sleep>(scaled(1'000'000));
}
TEST_CASE("hand-offs with the default sleep strategy", "[wait][handoff]") {
    const std::uint64_t count = scaled(1'000'000);
    auto ch = que::spsc::make<msg, 4, que::wait::sleep>();
    const stream_result r = stream_then_close(ch.first, ch.second, count);
    std::printf("default sleep strategy: %llu messages\n", static_cast<unsigned long long>(count));
    CHECK(r.received == count);
    CHECK(r.bad == 0);
}

TEST_CASE("a sleeping consumer and a spinning producer (no wakes) still hand off everything", "[wait][mixed]") {
    // The producer never looks for sleepers: the consumer sees its `wakes`
    // flag clear and polls (wait::poll_slice) instead of sleeping for good.
    const std::string name = unique_name("mixed");
    { std::error_code ignored; que::shm_remove(name, ignored); }
    // The consumer polls every millisecond and the ring holds 8: ~count/8 ms.
    const std::uint64_t count = scaled(8'000);
    {
        auto tx = que::spsc::producer<msg, 8, que::wait::spin>::open(que::shm{name});
        auto rx = que::spsc::consumer<msg, 8, eager_sleep>::open(que::shm{name});
        CHECK(producer_block_of(rx)->wakes.load() == 0);
        CHECK(consumer_block_of(rx)->wakes.load() == 1);
        const stream_result r = stream_then_close(tx, rx, count);
        std::printf("mixed strategies: %llu messages\n", static_cast<unsigned long long>(count));
        CHECK(r.received == count);
        CHECK(r.bad == 0);
    }
    { std::error_code ignored; que::shm_remove(name, ignored); }
}

TEST_CASE("a side held by a live handle cannot be opened twice", "[wait][role]") {
    const std::string name = unique_name("role");
    { std::error_code ignored; que::shm_remove(name, ignored); }
    {
        auto tx = que::spsc::producer<msg, 8>::open(que::shm{name});
        std::error_code ec;
        auto tx2 = que::spsc::producer<msg, 8>::open(que::shm{name}, ec);
        CHECK(ec == que::errc::role_taken);
        CHECK_FALSE(tx2);
        using producer8 = que::spsc::producer<msg, 8>;
        CHECK_THROWS_AS(producer8::open(que::shm{name}), std::system_error);
        // The consumer side is free.
        auto rx = que::spsc::consumer<msg, 8>::open(que::shm{name}, ec);
        CHECK_FALSE(ec);
        CHECK(rx.peer_alive());
        CHECK(tx.peer_alive());
        // Given back on destruction: a new producer may join (and reopen the stream).
        tx = {};
        CHECK(rx.closed());
        auto tx3 = que::spsc::producer<msg, 8>::open(que::shm{name}, ec);
        CHECK_FALSE(ec);
        CHECK(tx3);
        CHECK_FALSE(rx.closed());
    }
    { std::error_code ignored; que::shm_remove(name, ignored); }
}
