// Closing and peer liveness between processes (fork + que::shm).
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>

#include <que/backing/shm.hpp>

#include "support.hpp"

using namespace que_test;
using que::status;

namespace {

// A forked child that is killed and reaped however the test ends.
class child {
public:
    template <class F>
    explicit child(F&& body) {
        std::fflush(nullptr);
        pid_ = ::fork();
        if (pid_ == 0) ::_exit(body());  // never returns into Catch2
    }
    ~child() {
        if (pid_ > 0 && !reaped_) {
            ::kill(pid_, SIGKILL);
            wait();
        }
    }
    child(const child&) = delete;
    child& operator=(const child&) = delete;

    pid_t pid() const noexcept { return pid_; }
    void kill9() noexcept { ::kill(pid_, SIGKILL); }
    // The raw wait status.
    int wait() noexcept {
        int st = 0;
        while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
        }
        reaped_ = true;
        return st;
    }

private:
    pid_t pid_ = -1;
    bool reaped_ = false;
};

// A shm name removed before and after the test.
struct scoped_name {
    std::string name;
    explicit scoped_name(const char* what) : name(unique_name(what)) {
        std::error_code ec;
        que::shm_remove(name, ec);
    }
    ~scoped_name() {
        std::error_code ec;
        que::shm_remove(name, ec);
    }
};

using sleeper = que::wait::sleep;

} // namespace

TEST_CASE("close, drain, end of stream across processes", "[wait][close][process]") {
    scoped_name n("close");
    const std::uint64_t count = scaled(200'000);
    child producer([&] {
        std::error_code ec;
        auto tx = que::spsc::producer<msg, 64, sleeper>::open(que::shm{n.name}, ec);
        if (ec) return 2;
        for (std::uint64_t i = 0; i < count; ++i)
            if (tx.push(make_msg(i)) != status::ok) return 3;
        tx.close();
        return 0;
    });
    auto rx = que::spsc::consumer<msg, 64, sleeper>::open(que::shm{n.name});
    std::uint64_t expected = 0, bad = 0;
    msg m{};
    status s;
    while ((s = rx.pop(m)) == status::ok) {
        if (m.seq != expected || m.check != check_of(m.seq)) ++bad;
        ++expected;
    }
    std::printf("across processes: %llu messages then %s\n", static_cast<unsigned long long>(count),
                que::to_string(s));
    CHECK(s == status::closed);
    CHECK(expected == count);
    CHECK(bad == 0);
    CHECK(rx.pop(m) == status::closed);  // and it stays ended
    const int st = producer.wait();
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
}

TEST_CASE("a SIGKILLed producer is detected by a consumer asleep in pop", "[wait][liveness][process]") {
    scoped_name n("kill-producer");
    child producer([&] {
        std::error_code ec;
        auto tx = que::spsc::producer<msg, 8, sleeper>::open(que::shm{n.name}, ec);
        if (ec) return 2;
        for (std::uint64_t i = 0; i < 3; ++i) tx.push(make_msg(i));
        for (;;) ::pause();  // alive, producing nothing, until killed
    });
    auto rx = que::spsc::consumer<msg, 8, sleeper>::open(que::shm{n.name});
    msg m{};
    for (std::uint64_t i = 0; i < 3; ++i) {
        REQUIRE(rx.pop_for(m, 10s) == status::ok);
        CHECK(m.seq == i);
        CHECK(m.check == check_of(i));
    }
    CHECK(rx.peer_alive());
    // Kill the producer once we are asleep in pop (our waiters count shows it);
    // the child is not reaped before pop returns: a zombie counts as dead.
    clock_type::time_point killed_at{};
    std::thread killer([&] {
        if (eventually([&] { return producer_block_of(rx)->data_waiters.load() == 1; })) {
            killed_at = clock_type::now();
            producer.kill9();
        }
    });
    const status s = rx.pop(m);
    const auto returned_at = clock_type::now();
    killer.join();
    REQUIRE(killed_at != clock_type::time_point{});
    const double ms = std::chrono::duration<double, std::milli>(returned_at - killed_at).count();
    std::printf("killed producer detected by a sleeping consumer after %.1f ms\n", ms);
    CHECK(s == status::peer_dead);
    CHECK(returned_at - killed_at < 2s);  // two liveness periods (20 ms) plus a wide margin
    CHECK_FALSE(rx.peer_alive());
    CHECK_FALSE(rx.closed());  // died, did not close
    const int st = producer.wait();
    CHECK(WIFSIGNALED(st));
}

TEST_CASE("a SIGKILLed producer: what it published is still delivered, then peer_dead", "[wait][liveness][process]") {
    scoped_name n("kill-busy-producer");
    child producer([&] {
        std::error_code ec;
        auto tx = que::spsc::producer<msg, 16, que::wait::spin>::open(que::shm{n.name}, ec);
        if (ec) return 2;
        for (std::uint64_t i = 0;; ++i) tx.push(make_msg(i));  // blocks (spinning) whenever full
    });
    auto rx = que::spsc::consumer<msg, 16, sleeper>::open(que::shm{n.name});
    msg m{};
    std::uint64_t expected = 0;
    for (; expected < 100; ++expected) {
        REQUIRE(rx.pop_for(m, 10s) == status::ok);
        REQUIRE(m.seq == expected);
    }
    producer.kill9();
    const auto killed_at = clock_type::now();
    status s;
    std::uint64_t bad = 0;
    while ((s = rx.pop(m)) == status::ok) {
        if (m.seq != expected || m.check != check_of(m.seq)) ++bad;
        ++expected;
    }
    const auto took = clock_type::now() - killed_at;
    std::printf("busy producer killed after %llu messages; detected in %.1f ms\n",
                static_cast<unsigned long long>(expected), std::chrono::duration<double, std::milli>(took).count());
    CHECK(s == status::peer_dead);
    CHECK(bad == 0);
    CHECK(took < 2s);
    producer.wait();
}

TEST_CASE("a SIGKILLed consumer is detected by a producer asleep in push", "[wait][liveness][process]") {
    scoped_name n("kill-consumer");
    child consumer([&] {
        std::error_code ec;
        auto rx = que::spsc::consumer<msg, 4, sleeper>::open(que::shm{n.name}, ec);
        if (ec) return 2;
        for (;;) ::pause();  // joined, reads nothing
    });
    auto tx = que::spsc::producer<msg, 4, sleeper>::open(que::shm{n.name});
    REQUIRE(eventually([&] { return tx.peer_alive(); }));
    for (std::uint64_t i = 0; i < 4; ++i) REQUIRE(tx.push_for(make_msg(i), 10s) == status::ok);
    clock_type::time_point killed_at{};
    std::thread killer([&] {
        if (eventually([&] { return consumer_block_of(tx)->space_waiters.load() == 1; })) {
            killed_at = clock_type::now();
            consumer.kill9();
        }
    });
    const status s = tx.push(make_msg(4));
    const auto returned_at = clock_type::now();
    killer.join();
    REQUIRE(killed_at != clock_type::time_point{});
    std::printf("killed consumer detected by a sleeping producer after %.1f ms\n",
                std::chrono::duration<double, std::milli>(returned_at - killed_at).count());
    CHECK(s == status::peer_dead);
    CHECK(returned_at - killed_at < 2s);
    CHECK_FALSE(tx.peer_alive());
    consumer.wait();
}

TEST_CASE("a role held by a live process is refused, a dead holder's is taken over", "[wait][role][process]") {
    scoped_name n("role-process");
    child holder([&] {
        std::error_code ec;
        auto tx = que::spsc::producer<msg, 8>::open(que::shm{n.name}, ec);
        if (ec) return 2;
        for (;;) ::pause();
    });
    auto rx = que::spsc::consumer<msg, 8>::open(que::shm{n.name});
    REQUIRE(eventually([&] { return rx.peer_alive(); }));
    CHECK(producer_block_of(rx)->pid.load() == static_cast<std::uint32_t>(holder.pid()));
    std::error_code ec;
    auto tx = que::spsc::producer<msg, 8>::open(que::shm{n.name}, ec);
    CHECK(ec == que::errc::role_taken);
    holder.kill9();
    // Dead (a zombie until reaped): peer_alive says so at once, no waiting.
    REQUIRE(eventually([&] { return !rx.peer_alive(); }));
    tx = que::spsc::producer<msg, 8>::open(que::shm{n.name}, ec);
    CHECK_FALSE(ec);
    REQUIRE(tx);
    CHECK(rx.peer_alive());
    CHECK(tx.try_push(make_msg(9)));
    msg m{};
    CHECK(rx.pop_for(m, 10s) == status::ok);
    CHECK(m.seq == 9);
    holder.wait();
}
