// Two-thread stress tests of que::spsc: every message carries a sequence number
// and a check (tests/support/checked_message.hpp); the consumer classifies each
// one, and the test fails if any was lost, duplicated, reordered or torn.
// Producer and consumer are pinned to CPUs 0 and 1 where the machine has them.
#include <catch2/catch.hpp>

#include <que/spsc.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "checked_message.hpp"
#include "pinning.hpp"
#include "spsc_transfer.hpp"

namespace {

template <class M, std::size_t N, que_test::flavour F>
void stress(std::uint64_t full_count) {
    const std::uint64_t total = que_test::scaled(full_count);
    auto [tx, rx] = que::spsc::make<M, N>();
    const auto t0 = std::chrono::steady_clock::now();
    const que_test::transfer_result r = que_test::transfer<F>(tx, rx, total);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf(
        "spsc stress %s, %zu-byte messages, N=%zu: %llu messages (full count %llu / QUE_TEST_SCALE_DIVISOR %d), "
        "%d of 2 threads pinned, %.2f s\n",
        que_test::flavour_name(F), sizeof(M), N, static_cast<unsigned long long>(total),
        static_cast<unsigned long long>(full_count), QUE_TEST_SCALE_DIVISOR, r.pinned, secs);
    std::fflush(stdout);
    INFO("messages: " << total << ", checker: " << r.check);
    CHECK(r.check.torn == 0);
    CHECK(r.check.lost == 0);
    CHECK(r.check.duplicated_or_reordered == 0);
    CHECK(r.check.received == total);
    CHECK(r.check.perfect(total));
    // The ring is drained: both sides agree nothing is left.
    CHECK(rx.empty());
    CHECK(tx.size() == 0);
    if (que_test::usable_cpus() >= 2) CHECK(r.pinned == 2);
}

using que_test::flavour;
using que_test::msg1264;
using que_test::msg8;

// 24 bytes: 64 is not a multiple, so messages straddle cache lines and the
// consumer's "is the next message in the producer's line" arithmetic
// (spsc.hpp, let_line_fill) meets every alignment.
// Same interface as msg8 (make, seq, intact).
struct msg24 {
    std::uint64_t seq_, inverse, mixed;
    static msg24 make(std::uint64_t s) noexcept { return {s, ~s, s * 0x9e3779b97f4a7c15ull}; }
    std::uint64_t seq() const noexcept { return seq_; }
    bool intact() const noexcept { return inverse == ~seq_ && mixed == seq_ * 0x9e3779b97f4a7c15ull; }
};

// Only the blocking calls: the producer's push and the consumer's pop(T&),
// which waits when the ring is empty and, when it keeps up with the
// producer, lets it finish the cache line it is filling. Every message is
// checked in order.
template <class M, std::size_t N>
void blocking_stream(std::uint64_t full_count) {
    const std::uint64_t total = que_test::scaled(full_count);
    // Named references, not structured bindings: the lambdas below capture
    // them, which clang before 16 rejects for bindings (C++20 allows it).
    auto ends = que::spsc::make<M, N>();
    auto& tx = ends.first;
    auto& rx = ends.second;
    // msg8 keeps 40 bits of sequence; the counts here stay far below 2^40.
    static_assert(msg8::stress_count < (std::uint64_t{1} << msg8::seq_bits));
    std::uint64_t push_failures = 0, pop_failures = 0, wrong = 0, received = 0;
    const int pinned = que_test::run_pair(
        [&] {
            for (std::uint64_t s = 0; s < total; ++s)
                if (tx.push(M::make(s)) != que::status::ok) ++push_failures;
        },
        [&] {
            for (std::uint64_t s = 0; s < total; ++s) {
                M m{};
                if (rx.pop(m) != que::status::ok) {
                    ++pop_failures;
                    break;
                }
                if (!m.intact() || m.seq() != s) ++wrong;
                ++received;
            }
        });
    std::printf("spsc stress blocking push/pop, %zu-byte messages, N=%zu: %llu messages (full count %llu / "
                "QUE_TEST_SCALE_DIVISOR %d), %d of 2 threads pinned\n",
                sizeof(M), N, static_cast<unsigned long long>(total), static_cast<unsigned long long>(full_count),
                QUE_TEST_SCALE_DIVISOR, pinned);
    std::fflush(stdout);
    CHECK(push_failures == 0);
    CHECK(pop_failures == 0);
    CHECK(wrong == 0);
    CHECK(received == total);
    CHECK(rx.empty());
    CHECK(tx.size() == 0);
}

}  // namespace

TEST_CASE("spsc stress: blocking push and pop only, 8-byte and 24-byte messages", "[spsc][stress]") {
    blocking_stream<msg8, 4096>(msg8::stress_count);
    blocking_stream<msg8, 8>(msg8::stress_count / 10);  // groups of 2, one line holds the whole ring
    blocking_stream<msg24, 512>(msg8::stress_count / 2);
}

TEST_CASE("spsc stress: 8-byte messages, push/pop", "[spsc][stress]") {
    stress<msg8, 4096, flavour::single>(msg8::stress_count);
}
TEST_CASE("spsc stress: 8-byte messages, batch spans", "[spsc][stress]") {
    stress<msg8, 4096, flavour::batch>(msg8::stress_count);
}
TEST_CASE("spsc stress: 8-byte messages, claim/commit + peek/release", "[spsc][stress]") {
    stress<msg8, 4096, flavour::inplace>(msg8::stress_count);
}
TEST_CASE("spsc stress: 1264-byte messages, push/pop", "[spsc][stress]") {
    stress<msg1264, 1024, flavour::single>(msg1264::stress_count);
}
TEST_CASE("spsc stress: 1264-byte messages, batch spans", "[spsc][stress]") {
    stress<msg1264, 1024, flavour::batch>(msg1264::stress_count);
}
TEST_CASE("spsc stress: 1264-byte messages, claim/commit + peek/release", "[spsc][stress]") {
    stress<msg1264, 1024, flavour::inplace>(msg1264::stress_count);
}
// Tiny rings: the ring is full or empty almost every call, so the cached-index
// refresh paths and the wrap run on nearly every operation.
TEST_CASE("spsc stress: tiny rings (N = 1, 2, 8), every flavour", "[spsc][stress]") {
    stress<msg8, 1, flavour::single>(msg8::stress_count / 20);
    stress<msg8, 2, flavour::batch>(msg8::stress_count / 20);
    stress<msg8, 8, flavour::inplace>(msg8::stress_count / 20);
    stress<msg1264, 2, flavour::single>(msg1264::stress_count / 10);
    stress<msg1264, 8, flavour::inplace>(msg1264::stress_count / 10);
}

// The checks above are only as good as the checker: it must see each kind of fault.
TEMPLATE_TEST_CASE("spsc stress: the message checker detects loss, duplication, reordering and tearing", "[spsc][unit]",
                   msg8, msg1264) {
    using M = TestType;
    SECTION("a perfect stream") {
        que_test::sequence_checker c;
        for (std::uint64_t i = 0; i < 100; ++i) c.feed(M::make(i));
        CHECK(c.perfect(100));
        CHECK_FALSE(c.perfect(101));
    }
    SECTION("a lost message") {
        que_test::sequence_checker c;
        for (std::uint64_t i = 0; i < 100; ++i) {
            if (i != 40) c.feed(M::make(i));
        }
        CHECK(c.lost == 1);
        CHECK(c.first_bad_seq == 41);
        CHECK_FALSE(c.perfect(100));
    }
    SECTION("a duplicated message") {
        que_test::sequence_checker c;
        for (std::uint64_t i = 0; i < 100; ++i) {
            c.feed(M::make(i));
            if (i == 7) c.feed(M::make(i));
        }
        CHECK(c.duplicated_or_reordered == 1);
        CHECK_FALSE(c.perfect(100));
    }
    SECTION("two messages swapped") {
        que_test::sequence_checker c;
        for (std::uint64_t i = 0; i < 100; ++i) c.feed(M::make(i == 10 ? 11 : i == 11 ? 10 : i));
        CHECK(c.duplicated_or_reordered + c.lost > 0);
        CHECK_FALSE(c.perfect(100));
    }
    SECTION("a torn message: any single byte changed, or halves of two messages") {
        const std::size_t at =
            GENERATE(range(std::size_t{0}, sizeof(M), sizeof(M) > 8 ? std::size_t{97} : std::size_t{1}));
        M m = M::make(12345);
        auto* bytes = reinterpret_cast<unsigned char*>(&m);
        bytes[at] = static_cast<unsigned char>(bytes[at] ^ 0x10);
        CHECK_FALSE(m.intact());
        M a = M::make(5), b = M::make(6);
        std::memcpy(reinterpret_cast<unsigned char*>(&a) + sizeof(M) / 2,
                    reinterpret_cast<const unsigned char*>(&b) + sizeof(M) / 2, sizeof(M) - sizeof(M) / 2);
        CHECK_FALSE(a.intact());
        que_test::sequence_checker c;
        c.feed(M::make(0));
        c.feed(a);
        CHECK(c.torn == 1);
        CHECK_FALSE(c.perfect(2));
    }
}
