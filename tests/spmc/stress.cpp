// Threads on que::spmc: a producer at full speed, consumers on the other CPU or
// oversubscribed (more consumer threads than CPUs), small rings so that they
// are lapped all the time. Every message is checked (each word carries its
// index, plus a checksum word) and every index is accounted for: received or
// reported missed, by exactly one consumer of each share.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <que/spmc.hpp>

#include "checked_message.hpp"
#include "pinning.hpp"
#include "spmc_test.hpp"

using spmc_test::how;
using spmc_test::indexed;
using spmc_test::ledger;

namespace {

struct reader {
    que::spmc::options opt;
    how mode;
};

enum class placement {
    pinned,          // producer on CPU 0, the consumer(s) on CPU 1, spinning when empty
    oversubscribed,  // producer on CPU 0, consumers unpinned and outnumbering the CPUs, yielding when empty
};

struct result {
    std::vector<ledger> books;
    std::vector<reader> readers;
    std::uint64_t total = 0;
    int pinned = 0;
};

template <class M, std::size_t N>
result run(const char* label, std::uint64_t total, std::vector<reader> readers, placement where) {
    // Only the producer of the pair is kept (not a structured binding: clang 14
    // cannot capture those in a lambda); each thread gets its own subscription.
    que::spmc::producer<M, N> tx = que::spmc::make<M, N>().first;
    std::vector<que::spmc::consumer<M, N>> rxs;
    for (const reader& r : readers) rxs.push_back(tx.subscribe(r.opt));

    result res;
    res.readers = readers;
    res.total = total;
    for (std::size_t i = 0; i < readers.size(); ++i) res.books.emplace_back(total);

    std::atomic<bool> done{false};
    std::atomic<int> pinned{0};
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < readers.size(); ++i) {
        threads.emplace_back([&, i] {
            if (where == placement::pinned && que_test::pin_current_thread(1)) pinned.fetch_add(1);
            que_test::backoff spin;
            spmc_test::drain(
                rxs[i], res.books[i], readers[i].mode,
                // acquire: pairs with the producer's release below, so an empty
                // read after this saw `true` means everything was drained.
                [&] { return done.load(std::memory_order_acquire); },
                [&] {
                    if (where == placement::pinned)
                        spin.pause();  // spins, then yields: never starves a peer sharing the CPU
                    else
                        std::this_thread::yield();
                });
        });
    }
    std::thread producer([&] {
        if (que_test::pin_current_thread(0)) pinned.fetch_add(1);
        for (std::uint64_t i = 0; i < total; ++i) tx.push(M::make(i));
        tx.flush();
        done.store(true, std::memory_order_release);
    });
    producer.join();
    for (std::thread& t : threads) t.join();
    res.pinned = pinned.load();

    std::uint64_t missed = 0;
    for (std::size_t i = 0; i < readers.size(); ++i) missed += res.books[i].missed;
    std::cout << "spmc stress [" << label << "] N=" << N << " message=" << sizeof(M) << "B messages=" << total
              << " (scale divisor " << QUE_TEST_SCALE_DIVISOR << ") consumers=" << readers.size()
              << " pinned_threads=" << res.pinned << " total_missed=" << missed << "\n";
    for (std::size_t i = 0; i < readers.size(); ++i)
        std::cout << "  consumer " << i << " stride=" << readers[i].opt.stride << " offset=" << readers[i].opt.offset
                  << " via " << spmc_test::name_of(readers[i].mode) << ": " << static_cast<const spmc_test::tally&>(res.books[i])
                  << "\n";
    return res;
}

// Everything a run must satisfy, asserted.
void check(const result& res, bool require_laps) {
    std::uint64_t missed = 0;
    // Group the consumers by stride: the consumers of one stride split the
    // stream between them (one per offset in these tests).
    for (std::size_t i = 0; i < res.readers.size(); ++i) {
        const ledger& b = res.books[i];
        const que::spmc::options& o = res.readers[i].opt;
        INFO("consumer " << i << " stride " << o.stride << " offset " << o.offset << " via "
                         << spmc_test::name_of(res.readers[i].mode) << ": " << static_cast<const spmc_test::tally&>(b));
        CHECK(b.torn == 0);
        CHECK(b.wrong_index == 0);
        CHECK(b.double_count == 0);
        CHECK(b.beyond_end == 0);
        CHECK(b.received > 0);
        // Its own count of what it skipped is exactly what it skipped.
        CHECK(b.reported_missed == b.missed);
        // Drained: it stopped at the first index of its share past the end.
        const std::uint64_t share = o.offset < res.total ? (res.total - o.offset + o.stride - 1) / o.stride : 0;
        CHECK(b.final_next == o.offset + share * o.stride);
        // received + missed == produced (of its share), exactly.
        CHECK(b.received + b.missed == share);
        missed += b.missed;
    }
    // Every stride's consumers together cover every index exactly once.
    std::vector<std::uint64_t> strides;
    for (const reader& r : res.readers)
        if (std::find(strides.begin(), strides.end(), r.opt.stride) == strides.end()) strides.push_back(r.opt.stride);
    for (std::uint64_t k : strides) {
        // One consumer per offset of the stride (stride 1: each consumer alone).
        for (std::size_t i = 0; i < res.readers.size(); ++i) {
            if (res.readers[i].opt.stride != k || res.readers[i].opt.offset != 0) continue;
            std::vector<const ledger*> group{&res.books[i]};
            for (std::uint64_t off = 1; off < k; ++off)
                for (std::size_t j = 0; j < res.readers.size(); ++j)
                    if (res.readers[j].opt.stride == k && res.readers[j].opt.offset == off) {
                        group.push_back(&res.books[j]);
                        break;
                    }
            REQUIRE(group.size() == k);
            INFO("stride " << k << " group led by consumer " << i);
            CHECK(spmc_test::uncovered(group, res.total) == 0);
        }
    }
    if (require_laps) CHECK(missed > 0);  // the lap path was exercised
}

const std::uint64_t full_count = que_test::scaled(10'000'000);

}  // namespace

// This file is built twice (tests/spmc/CMakeLists.txt): as que_spmc_stress
// with the payload copy the platform gets (inline asm on x86-64 and aarch64,
// unless under TSan) and as que_spmc_stress_portable with
// QUE_SEQLOCK_COPY_PORTABLE (the atomic_ref word copy), so every torn-read
// test below runs over both copy paths.
TEST_CASE("spmc stress: the payload copy path of this build", "[spmc][stress]") {
    const std::string path = que::spmc::detail::payload_copy::name;
    std::cout << "spmc stress: payload copy = " << path << "\n";
#if defined(QUE_SEQLOCK_COPY_PORTABLE) || defined(QUE_DETAIL_TSAN) || !(defined(__x86_64__) || defined(__aarch64__))
    CHECK(path == que::detail::copy::portable::name);
#else
    CHECK(path.find("asm") != std::string::npos);
#endif
}

TEST_CASE("spmc stress: producer at full speed, one consumer on the other CPU, N=8", "[spmc][stress]") {
    check(run<indexed<2>, 8>("pinned", full_count, {{{}, how::read}}, placement::pinned), true);
}

TEST_CASE("spmc stress: pinned, N=64, 64-byte messages, try_pop", "[spmc][stress]") {
    check(run<indexed<8>, 64>("pinned", full_count, {{{}, how::try_pop}}, placement::pinned), false);
}

TEST_CASE("spmc stress: pinned, N=8, 8-byte messages, batch pop", "[spmc][stress]") {
    check(run<que_test::msg8, 8>("pinned", full_count, {{{}, how::batch}}, placement::pinned), true);
}

TEST_CASE("spmc stress: oversubscribed broadcast and strided consumers, N=8", "[spmc][stress]") {
    std::vector<reader> readers{
        {{.stride = 1, .offset = 0}, how::read},    {{.stride = 1, .offset = 0}, how::try_pop},
        {{.stride = 3, .offset = 0}, how::read},    {{.stride = 3, .offset = 1}, how::try_pop},
        {{.stride = 3, .offset = 2}, how::batch},
    };
    check(run<indexed<2>, 8>("oversubscribed", full_count, readers, placement::oversubscribed), true);
}

TEST_CASE("spmc stress: oversubscribed, N=64, 64-byte messages", "[spmc][stress]") {
    std::vector<reader> readers{
        {{.stride = 1, .offset = 0}, how::batch}, {{.stride = 2, .offset = 0}, how::read},
        {{.stride = 2, .offset = 1}, how::read},  {{.stride = 1, .offset = 0}, how::read},
    };
    check(run<indexed<8>, 64>("oversubscribed", full_count, readers, placement::oversubscribed), true);
}

TEST_CASE("spmc stress: 1264-byte messages, pinned and oversubscribed, N=8", "[spmc][stress]") {
    const std::uint64_t n = que_test::scaled(que_test::msg1264::stress_count);
    check(run<que_test::msg1264, 8>("pinned", n, {{{}, how::read}}, placement::pinned), false);
    std::vector<reader> readers{
        {{.stride = 1, .offset = 0}, how::read},
        {{.stride = 1, .offset = 0}, how::try_pop},
        {{.stride = 2, .offset = 0}, how::batch},
        {{.stride = 2, .offset = 1}, how::read},
    };
    check(run<que_test::msg1264, 8>("oversubscribed", n, readers, placement::oversubscribed), true);
}

TEST_CASE("spmc stress: consumers subscribe to a running stream from other threads", "[spmc][stress]") {
    // subscribe() only reads the producer handle's mapping and the shared
    // indices, so consumer threads may join while the producer pushes. Each
    // joiner's accounting starts where it joined.
    const std::uint64_t total = que_test::scaled(4'000'000);
    que::spmc::producer<indexed<3>, 64> tx = que::spmc::make<indexed<3>, 64>().first;
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> progress{0};
    constexpr int joiners = 4;
    std::vector<ledger> books;
    for (int i = 0; i < joiners; ++i) books.emplace_back(total);
    std::vector<std::uint64_t> start(joiners, 0);
    std::vector<std::thread> threads;
    for (int i = 0; i < joiners; ++i) {
        threads.emplace_back([&, i] {
            // Join at different points of the stream (a quarter apart).
            while (progress.load(std::memory_order_relaxed) < total / joiners * static_cast<std::uint64_t>(i) &&
                   !done.load(std::memory_order_acquire))
                std::this_thread::yield();
            const que::spmc::options opt{.stride = 1, .offset = 0,
                                         .start = i % 2 == 0 ? que::spmc::start_at::latest : que::spmc::start_at::oldest};
            auto rx = tx.subscribe(opt);
            start[static_cast<std::size_t>(i)] = rx.next_index();
            spmc_test::drain(
                rx, books[static_cast<std::size_t>(i)], how::read, [&] { return done.load(std::memory_order_acquire); },
                [] { std::this_thread::yield(); });
        });
    }
    std::thread producer([&] {
        que_test::pin_current_thread(0);
        for (std::uint64_t i = 0; i < total; ++i) {
            tx.push(indexed<3>::make(i));
            if ((i & 1023) == 0) progress.store(i, std::memory_order_relaxed);
        }
        tx.flush();
        done.store(true, std::memory_order_release);
    });
    producer.join();
    for (std::thread& t : threads) t.join();
    std::cout << "spmc stress [late subscribers] N=64 message=24B messages=" << total << " (scale divisor "
              << QUE_TEST_SCALE_DIVISOR << ")\n";
    for (int i = 0; i < joiners; ++i) {
        const ledger& b = books[static_cast<std::size_t>(i)];
        const std::uint64_t s = start[static_cast<std::size_t>(i)];
        std::cout << "  joiner " << i << " started at " << s << ": " << static_cast<const spmc_test::tally&>(b) << "\n";
        INFO("joiner " << i << " started at " << s << ": " << static_cast<const spmc_test::tally&>(b));
        CHECK(b.torn == 0);
        CHECK(b.wrong_index == 0);
        CHECK(b.double_count == 0);
        CHECK(b.beyond_end == 0);
        CHECK(b.reported_missed == b.missed);
        CHECK(b.final_next == std::max(s, total));
        CHECK(b.received + b.missed == std::max(s, total) - s);
        // Nothing before its start is claimed; everything after is, exactly once.
        std::uint64_t bad = 0;
        for (std::uint64_t k = 0; k < total; ++k) bad += ((k < s) == (b.at(k) == 0)) ? 0u : 1u;
        CHECK(bad == 0);
    }
}
