// tests/shm/processes.cpp — que::shm between independent (forked) processes:
// full streams checked message by message, a producer killed mid-stream, a
// late-joining consumer, the creation race, and name ownership.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <thread>
#include <cstdio>
#include <vector>

#include <catch2/catch.hpp>

#include "shm_support.hpp"
#include "skip.hpp"

namespace {

using que_test::msg1264;
using que_test::msg8;
using shm_test::child;
using shm_test::name_guard;
using shm_test::patience;

// The producer side of a stream, run in a child: sends 0..count-1, switching
// between every publishing call of the API every 1024 messages (single push,
// batch push, claim/commit in place). Returns the child's exit status.
template <class M, std::size_t N>
int produce(const que::shm& where, std::uint64_t count) {
    std::error_code ec;
    auto tx = que::spsc::producer<M, N>::open(where, ec);
    if (ec) return 10;
    std::vector<M> batch(32);
    patience p;
    std::uint64_t seq = 0;
    while (seq < count) {
        std::uint64_t sent = 0;
        switch ((seq >> 10) % 3) {
        case 0:
            sent = tx.try_push(M::make(seq)) ? 1 : 0;
            break;
        case 1: {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(batch.size(), count - seq));
            for (std::size_t i = 0; i < n; ++i) batch[i] = M::make(seq + i);
            sent = tx.try_push(std::span<const M>(batch.data(), n));
            break;
        }
        default: {
            std::span<M> w = tx.claim(static_cast<std::size_t>(std::min<std::uint64_t>(64, count - seq)));
            for (std::size_t i = 0; i < w.size(); ++i) M::make_at(&w[i], seq + i);
            tx.commit(w.size());
            sent = w.size();
        }
        }
        if (sent == 0) {
            if (!p.pause()) return 11;  // consumer gone for 60 s
        } else {
            p.progress();
            seq += sent;
        }
    }
    return 0;
}

// The consumer side, in the test process: receives `count` messages through
// every reading call of the API and classifies each one.
template <class M, std::size_t N>
que_test::sequence_checker consume(que::spsc::consumer<M, N>& rx, std::uint64_t count) {
    que_test::sequence_checker check;
    std::vector<M> batch(32);
    patience p;
    while (check.received < count) {
        std::uint64_t got = 0;
        switch ((check.received >> 10) % 3) {
        case 0: {
            M m{};
            if (rx.try_pop(m)) {
                check.feed(m);
                got = 1;
            }
            break;
        }
        case 1:
            got = rx.try_pop(std::span<M>(batch));
            for (std::uint64_t i = 0; i < got; ++i) check.feed(batch[i]);
            break;
        default: {
            std::span<const M> r = rx.peek();
            for (const M& m : r) check.feed(m);
            rx.release(r.size());
            got = r.size();
        }
        }
        if (got == 0) {
            if (!p.pause()) break;  // producer gone for 60 s: report what we have
        } else {
            p.progress();
        }
    }
    return check;
}

template <class M, std::size_t N>
void stream_between_processes(const que::shm& where, std::uint64_t count) {
    name_guard guard(where);
    std::printf("shm stream: %llu messages of %zu bytes, ring of %zu, pages=%d\n",
                static_cast<unsigned long long>(count), sizeof(M), N, static_cast<int>(where.options.pages));
    std::fflush(stdout);
    // Both sides open_or_create at about the same time: either may create.
    child producer([&] { return produce<M, N>(where, count); });
    REQUIRE(producer.started());
    auto rx = que::spsc::consumer<M, N>::open(where);
    REQUIRE(rx.page_size() == where.options.pages);
    const que_test::sequence_checker check = consume(rx, count);
    INFO(check);
    CHECK(producer.exit_code() == 0);
    CHECK(check.perfect(count));
    M extra{};
    CHECK_FALSE(rx.try_pop(extra));  // nothing beyond what was sent
}

} // namespace

TEST_CASE("shm: two processes move 10^7 8-byte messages, none lost, duplicated, reordered or torn", "[shm]") {
    stream_between_processes<msg8, 4096>(que::shm{shm_test::unique_name("stream8")},
                                         que_test::scaled(msg8::stress_count));
}

TEST_CASE("shm: two processes move 1264-byte messages intact", "[shm]") {
    stream_between_processes<msg1264, 1024>(que::shm{shm_test::unique_name("stream1264")},
                                            que_test::scaled(msg1264::stress_count));
}

TEST_CASE("shm: producer killed mid-stream: every committed message arrives intact, nothing else", "[shm]") {
    const que::shm where{shm_test::unique_name("kill")};
    name_guard guard(where);
    using ring = que::spsc::consumer<msg1264, 256>;
    auto rx = ring::open(where);  // created here: the producer only joins
    const std::uint64_t before_kill = que_test::scaled(200'000, 20'000);
    std::printf("shm kill: SIGKILL after %llu messages received\n", static_cast<unsigned long long>(before_kill));
    std::fflush(stdout);

    // The producer writes in place (claim/commit, several slots at a time), so
    // the kill most likely lands in the middle of writing a claimed batch.
    child producer([&] {
        auto tx = que::spsc::producer<msg1264, 256>::open(que::shm{where.name, {.mode = que::open_mode::open}});
        for (std::uint64_t seq = 0;;) {
            std::span<msg1264> w = tx.claim(7);
            for (std::size_t i = 0; i < w.size(); ++i) msg1264::make_at(&w[i], seq + i);
            tx.commit(w.size());
            seq += w.size();
            if (w.empty()) std::this_thread::yield();
        }
        return 0;
    });
    REQUIRE(producer.started());

    que_test::sequence_checker check;
    msg1264 m{};
    patience p;
    bool killed = false;
    // Keep consuming while the kill lands, so that it hits a running producer.
    while (!producer.try_wait()) {
        if (rx.try_pop(m)) {
            check.feed(m);
            p.progress();
            if (!killed && check.received >= before_kill) {
                REQUIRE(::kill(producer.pid(), SIGKILL) == 0);
                killed = true;
            }
        } else {
            REQUIRE(p.pause());
        }
    }
    REQUIRE(killed);
    REQUIRE(WIFSIGNALED(producer.status()));
    REQUIRE(WTERMSIG(producer.status()) == SIGKILL);

    // What the producer had committed when it died is its published index.
    const std::uint64_t committed = shm_test::published_write_index(where.name);
    while (rx.try_pop(m)) check.feed(m);
    INFO(check << " committed=" << committed);
    CHECK(committed >= before_kill);
    CHECK(check.perfect(committed));
    CHECK_FALSE(rx.try_pop(m));
    CHECK(rx.empty());
}

TEST_CASE("shm: a consumer that joins late receives the backlog", "[shm]") {
    const que::shm where{shm_test::unique_name("backlog")};
    name_guard guard(where);
    constexpr std::uint64_t sent = 1000;
    child producer([&] {
        std::error_code ec;
        auto tx = que::spsc::producer<msg8, 1024>::open(que::shm{where.name, {.mode = que::open_mode::create}}, ec);
        if (ec) return 10;
        for (std::uint64_t s = 0; s < sent; ++s)
            if (!tx.try_push(msg8::make(s))) return 11;
        return 0;  // exits: the segment (and its messages) outlive the producer
    });
    REQUIRE(producer.exit_code() == 0);

    auto rx = que::spsc::consumer<msg8, 1024>::open(que::shm{where.name, {.mode = que::open_mode::open}});
    CHECK(rx.size() == sent);
    que_test::sequence_checker check;
    msg8 m{};
    while (rx.try_pop(m)) check.feed(m);
    INFO(check);
    CHECK(check.perfect(sent));
}

TEST_CASE("shm: processes racing to open_or_create one name: exactly one creates, all share it", "[shm]") {
    constexpr int rounds = 20;
    constexpr int racers = 4;
    const auto spec = que::spsc::detail::spec<msg8, 64>();
    for (int round = 0; round < rounds; ++round) {
        const que::shm where{shm_test::unique_name("race")};
        name_guard guard(where);
        shm_test::start_gate gate;
        std::vector<child> kids;
        for (int i = 0; i < racers; ++i) {
            kids.emplace_back([&] {
                gate.wait_in_child();
                std::error_code ec;
                que::detail::mapping m = where.attach(spec, ec);
                if (ec) return 10 + ec.value();
                // Each racer counts itself in the user metadata area: all of
                // them must have landed on the same memory.
                std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(que::detail::metadata_of(m.base)))
                    .fetch_add(1, std::memory_order_relaxed);
                return m.created ? 1 : 0;
            });
        }
        gate.open();
        int creators = 0, joiners = 0;
        for (child& k : kids) {
            const int code = k.exit_code();
            INFO("round " << round << " racer exit code " << code);
            CHECK((code == 0 || code == 1));
            creators += code == 1;
            joiners += code == 0;
        }
        REQUIRE(creators == 1);
        REQUIRE(joiners == racers - 1);
        auto rx = que::spsc::consumer<msg8, 64>::open(que::shm{where.name, {.mode = que::open_mode::open}});
        CHECK(std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(rx.metadata().data()))
                  .load(std::memory_order_relaxed) == racers);
    }
}

TEST_CASE("shm: either side may come first; make() over shm works", "[shm]") {
    const que::shm where{shm_test::unique_name("order")};
    name_guard guard(where);
    {
        auto tx = que::spsc::producer<msg8, 64>::open(where);  // producer first: creates
        auto rx = que::spsc::consumer<msg8, 64>::open(where);
        REQUIRE(tx.try_push(msg8::make(7)));
        msg8 m{};
        REQUIRE(rx.try_pop(m));
        CHECK(m.seq() == 7);
    }
    {
        // The segment outlived the handles; make() joins it and sees it empty.
        auto [tx, rx] = que::spsc::make<msg8, 64>(where);
        CHECK(rx.empty());
        REQUIRE(tx.try_push(msg8::make(8)));
        CHECK(rx.pop().seq() == 8);
    }
}

TEST_CASE("shm: remove_on_close unlinks the name when the last handle goes, and only its own segment", "[shm]") {
    const std::string name = shm_test::unique_name("roc");
    name_guard guard(que::shm{name});
    {
        auto rx = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.remove_on_close = true}});
        auto tx = que::spsc::producer<msg8, 64>::open(que::shm{name});
        REQUIRE(shm_test::exists_in_dev_shm(name));
        auto moved = std::move(rx);  // a moved handle still holds the mapping
        (void)moved;
    }
    CHECK_FALSE(shm_test::exists_in_dev_shm(name));

    // The name was removed and reused meanwhile: the old handle must not
    // remove the new segment.
    auto old = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.remove_on_close = true}});
    REQUIRE(que::shm_remove(name));
    auto fresh = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.mode = que::open_mode::create}});
    old = {};
    CHECK(shm_test::exists_in_dev_shm(name));
}

TEST_CASE("shm: shm_remove reports whether it removed, never creates", "[shm]") {
    const std::string name = shm_test::unique_name("rm");
    std::error_code ec;
    CHECK_FALSE(que::shm_remove(name, ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(shm_test::exists_in_dev_shm(name));
    { auto rx = que::spsc::consumer<msg8, 64>::open(que::shm{name}); }
    REQUIRE(shm_test::exists_in_dev_shm(name));
    CHECK(que::shm_remove(name));
    CHECK_FALSE(shm_test::exists_in_dev_shm(name));
    CHECK_FALSE(que::shm_remove(name, ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(que::shm_remove("a/b", ec));
    CHECK(ec == que::errc::invalid_name);
    CHECK_THROWS_AS(que::shm_remove(""), std::system_error);
}

TEST_CASE("shm: a created segment has exactly the requested permissions, whatever the umask", "[shm]") {
    const std::string name = shm_test::unique_name("perm");
    name_guard guard(que::shm{name});
    const mode_t old_mask = ::umask(0077);
    std::error_code ec;
    auto rx = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.permissions = 0640}}, ec);
    ::umask(old_mask);
    REQUIRE_FALSE(ec);
    struct stat st {};
    REQUIRE(::stat(("/dev/shm/" + name).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);

    // The default is owner-only.
    const std::string name2 = shm_test::unique_name("perm2");
    name_guard guard2(que::shm{name2});
    auto rx2 = que::spsc::consumer<msg8, 64>::open(que::shm{name2});
    REQUIRE(::stat(("/dev/shm/" + name2).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("shm: a joiner waiting on a creator that gave up creates the segment itself", "[shm]") {
    const std::string name = shm_test::unique_name("vanish");
    name_guard guard(que::shm{name});
    // A "creator" that made the name (O_EXCL) but never sized it, then gives up.
    std::optional<shm_test::raw_segment> stuck;
    stuck.emplace(name, 0);
    const auto spec = que::spsc::detail::spec<msg8, 64>();
    child joiner([&] {
        std::error_code ec;
        que::detail::mapping m = que::shm{name, {.join_timeout = std::chrono::seconds(30)}}.attach(spec, ec);
        if (ec) return 10 + ec.value();
        return m.created ? 1 : 0;
    });
    REQUIRE(joiner.started());
    // Wait until the joiner holds the file open (it waits for a size), seen
    // in its fd table, then take the name away as a failed creator does.
    const std::string target = "/dev/shm/" + name;
    bool holding = false;
    for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
         !holding && std::chrono::steady_clock::now() < until;) {
        const std::string fds = "/proc/" + std::to_string(joiner.pid()) + "/fd";
        for (int fd = 0; fd < 64 && !holding; ++fd) {
            char link[512];
            const ssize_t n = ::readlink((fds + "/" + std::to_string(fd)).c_str(), link, sizeof(link) - 1);
            if (n > 0) holding = std::string(link, static_cast<std::size_t>(n)) == target;
        }
        if (!holding) std::this_thread::yield();
    }
    REQUIRE(holding);
    REQUIRE(::shm_unlink(("/" + name).c_str()) == 0);
    stuck.reset();
    // It noticed the file lost its name, started over and created a fresh one.
    CHECK(joiner.exit_code() == 1);
    auto rx = que::spsc::consumer<msg8, 64>::open(que::shm{name, {.mode = que::open_mode::open}});
    CHECK(rx.empty());
}
