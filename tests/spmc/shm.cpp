// que::spmc across processes over que::shm: the torn-read and accounting tests
// with consumers in forked processes, a producer that dies without flushing and
// is replaced, and wrong_kind over a named segment both ways.
#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <thread>
#include <vector>

#include <que/backing/shm.hpp>
#include <que/spmc.hpp>
#include <que/spsc.hpp>

#include "../shm/shm_support.hpp"
#include "checked_message.hpp"
#include "pinning.hpp"
#include "skip.hpp"
#include "spmc_test.hpp"

using spmc_test::how;
using spmc_test::indexed;
using spmc_test::ledger;
using spmc_test::tally;

namespace {

constexpr std::size_t max_children = 8;

// Process-shared scratch memory (MAP_SHARED anonymous, inherited over fork):
// the start/stop flags and each child's tally and per-index marks.
struct board {
    std::atomic<std::uint32_t> ready;  // children that opened their consumer
    std::atomic<std::uint32_t> done;   // 1 once the producer flushed its last message
    tally tallies[max_children];
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

class shared_scratch {
public:
    explicit shared_scratch(std::size_t bytes) : bytes_(bytes) {
        p_ = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p_ == MAP_FAILED) throw std::system_error(errno, std::system_category(), "mmap scratch");
    }
    ~shared_scratch() { ::munmap(p_, bytes_); }
    shared_scratch(const shared_scratch&) = delete;
    shared_scratch& operator=(const shared_scratch&) = delete;
    std::byte* get() const { return static_cast<std::byte*>(p_); }

private:
    std::size_t bytes_;
    void* p_;
};

struct reader {
    que::spmc::options opt;
    how mode;
};

// Producer in this process (a thread pinned to CPU 0), one forked consumer
// process per reader; checks every message and every index.
template <class M, std::size_t N>
void run_processes(const char* label, std::uint64_t total, const std::vector<reader>& readers, bool pin_consumers) {
    REQUIRE(readers.size() <= max_children);
    const std::string name = shm_test::unique_name("spmc");
    shm_test::name_guard guard(que::shm{name});
    auto tx = que::spmc::producer<M, N>::open(que::shm{name, {.mode = que::open_mode::create}});

    shared_scratch scratch(sizeof(board) + readers.size() * total);
    board* b = new (scratch.get()) board{};
    std::uint8_t* marks = reinterpret_cast<std::uint8_t*>(scratch.get() + sizeof(board));

    std::vector<shm_test::child> children;
    for (std::size_t i = 0; i < readers.size(); ++i) {
        children.emplace_back([&, i]() -> int {
            if (pin_consumers) que_test::pin_current_thread(1);
            std::error_code ec;
            auto rx = que::spmc::consumer<M, N>::open(que::shm{name, {.mode = que::open_mode::open}}, readers[i].opt, ec);
            if (ec) return 10;
            if (rx.next_index() != readers[i].opt.offset) return 11;  // opened before any push
            b->ready.fetch_add(1, std::memory_order_release);
            ledger book(marks + i * total, total);
            que_test::backoff spin;
            spmc_test::drain(
                rx, book, readers[i].mode,
                // acquire: pairs with the producer's release store of done.
                [&] { return b->done.load(std::memory_order_acquire) != 0; },
                [&] {
                    if (pin_consumers)
                        spin.pause();
                    else
                        ::sched_yield();
                });
            b->tallies[i] = book;
            return 0;
        });
        REQUIRE(children.back().started());
    }
    // Wait until every consumer has joined, so that each starts at index 0.
    shm_test::patience wait;
    while (b->ready.load(std::memory_order_acquire) != readers.size()) {
        bool any_died = false;
        for (auto& c : children) any_died = any_died || c.try_wait();
        REQUIRE_FALSE(any_died);
        REQUIRE(wait.pause());
    }

    std::thread producer([&] {
        que_test::pin_current_thread(0);
        for (std::uint64_t i = 0; i < total; ++i) tx.push(M::make(i));
        tx.flush();
        b->done.store(1, std::memory_order_release);
    });
    producer.join();
    for (std::size_t i = 0; i < children.size(); ++i) {
        INFO("consumer process " << i);
        CHECK(children[i].exit_code() == 0);
    }

    std::cout << "spmc over shm [" << label << "] N=" << N << " message=" << sizeof(M) << "B messages=" << total
              << " (scale divisor " << QUE_TEST_SCALE_DIVISOR << ") consumer processes=" << readers.size() << "\n";
    std::uint64_t missed = 0;
    for (std::size_t i = 0; i < readers.size(); ++i) {
        const tally& t = b->tallies[i];
        const que::spmc::options& o = readers[i].opt;
        std::cout << "  consumer " << i << " stride=" << o.stride << " offset=" << o.offset << " via "
                  << spmc_test::name_of(readers[i].mode) << ": " << t << "\n";
        INFO("consumer " << i << ": " << t);
        CHECK(t.torn == 0);
        CHECK(t.wrong_index == 0);
        CHECK(t.double_count == 0);
        CHECK(t.beyond_end == 0);
        CHECK(t.received > 0);
        CHECK(t.reported_missed == t.missed);
        const std::uint64_t share = (total - o.offset + o.stride - 1) / o.stride;
        CHECK(t.received + t.missed == share);
        CHECK(t.final_next == o.offset + share * o.stride);
        missed += t.missed;
    }
    CHECK(missed > 0);

    // Index coverage: each stride-1 consumer alone, and each stride-k group
    // (offsets 0..k-1, in order in `readers`) together.
    for (std::size_t i = 0; i < readers.size();) {
        const std::uint64_t k = readers[i].opt.stride;
        REQUIRE(i + k <= readers.size());
        std::vector<ledger> views;
        std::vector<const ledger*> group;
        for (std::uint64_t j = 0; j < k; ++j) {
            REQUIRE(readers[i + j].opt.stride == k);
            REQUIRE(readers[i + j].opt.offset == j);
            views.emplace_back(marks + (i + j) * total, total);
        }
        for (const ledger& v : views) group.push_back(&v);
        INFO("group starting at consumer " << i << " (stride " << k << ")");
        CHECK(spmc_test::uncovered(group, total) == 0);
        i += k;
    }
}

}  // namespace

TEST_CASE("spmc over shm: consumer process on the other CPU, torn-read and accounting", "[spmc][shm]") {
    run_processes<indexed<4>, 8>("pinned", que_test::scaled(10'000'000), {{{}, how::read}}, true);
}

TEST_CASE("spmc over shm: oversubscribed consumer processes, broadcast and strided", "[spmc][shm]") {
    std::vector<reader> readers{
        {{.stride = 1, .offset = 0}, how::read},
        {{.stride = 1, .offset = 0}, how::try_pop},
        {{.stride = 3, .offset = 0}, how::read},
        {{.stride = 3, .offset = 1}, how::batch},
        {{.stride = 3, .offset = 2}, how::try_pop},
    };
    run_processes<indexed<2>, 64>("oversubscribed", que_test::scaled(10'000'000), readers, false);
}

TEST_CASE("spmc over shm: 1264-byte messages across processes", "[spmc][shm]") {
    std::vector<reader> readers{
        {{.stride = 1, .offset = 0}, how::read},
        {{.stride = 2, .offset = 0}, how::read},
        {{.stride = 2, .offset = 1}, how::try_pop},
    };
    run_processes<que_test::msg1264, 16>("oversubscribed", que_test::scaled(que_test::msg1264::stress_count), readers,
                                         false);
}

TEST_CASE("spmc over shm: joining spsc as spmc and the reverse fails with wrong_kind", "[spmc][shm]") {
    const std::string a = shm_test::unique_name("spmc-kind-a");
    const std::string b = shm_test::unique_name("spmc-kind-b");
    shm_test::name_guard ga(que::shm{a});
    shm_test::name_guard gb(que::shm{b});
    auto spsc_tx = que::spsc::producer<std::uint64_t, 64>::open(que::shm{a});
    auto spmc_tx = que::spmc::producer<std::uint64_t, 64>::open(que::shm{b});

    std::error_code ec;
    auto c1 = que::spmc::consumer<std::uint64_t, 64>::open(que::shm{a}, ec);
    CHECK(ec == que::errc::wrong_kind);
    CHECK_FALSE(c1);
    auto p1 = que::spmc::producer<std::uint64_t, 64>::open(que::shm{a}, ec);
    CHECK(ec == que::errc::wrong_kind);
    auto c2 = que::spsc::consumer<std::uint64_t, 64>::open(que::shm{b}, ec);
    CHECK(ec == que::errc::wrong_kind);
    auto p2 = que::spsc::producer<std::uint64_t, 64>::open(que::shm{b}, ec);
    CHECK(ec == que::errc::wrong_kind);
    CHECK_THROWS_AS((que::spmc::consumer<std::uint64_t, 64>::open(que::shm{a})), std::system_error);
    // Also from another process, which sees only the name.
    shm_test::child other([&]() -> int {
        std::error_code e;
        auto c = que::spmc::consumer<std::uint64_t, 64>::open(que::shm{a, {.mode = que::open_mode::open}}, e);
        if (e != que::errc::wrong_kind) return 1;
        auto d = que::spsc::consumer<std::uint64_t, 64>::open(que::shm{b, {.mode = que::open_mode::open}}, e);
        if (e != que::errc::wrong_kind) return 2;
        auto f = que::spmc::consumer<std::uint64_t, 64>::open(que::shm{b, {.mode = que::open_mode::open}}, e);
        if (e) return 3;
        return 0;
    });
    CHECK(other.exit_code() == 0);
}

TEST_CASE("spmc over shm: a producer process dies unflushed, a new one continues the indices", "[spmc][shm]") {
    const std::string name = shm_test::unique_name("spmc-restart");
    shm_test::name_guard guard(que::shm{name});
    auto rx = que::spmc::consumer<indexed<2>, 64>::open(que::shm{name});
    shm_test::child first([&]() -> int {
        auto tx = que::spmc::producer<indexed<2>, 64>::open(que::shm{name, {.mode = que::open_mode::open}});
        for (std::uint64_t i = 0; i < 10; ++i) tx.push(indexed<2>::make(i));
        ::_exit(0);  // dies: no destructor, no flush (published write index is still 0)
    });
    REQUIRE(first.exit_code() == 0);
    CHECK(shm_test::published_write_index(name) == 0);
    // A consumer joining now at "latest" still knows those 10 are old.
    auto late = que::spmc::consumer<indexed<2>, 64>::open(que::shm{name}, {.start = que::spmc::start_at::latest});
    CHECK(late.next_index() == 10);

    auto tx = que::spmc::producer<indexed<2>, 64>::open(que::shm{name});
    CHECK(tx.pushed() == 10);
    tx.push(indexed<2>::make(10));
    indexed<2> m{};
    for (std::uint64_t i = 0; i <= 10; ++i) {
        REQUIRE(rx.try_pop(m));
        CHECK(m.intact());
        CHECK(m.seq() == i);
    }
    CHECK_FALSE(rx.try_pop(m));
    REQUIRE(late.try_pop(m));
    CHECK(m.seq() == 10);
    CHECK(rx.missed() == 0);
}
