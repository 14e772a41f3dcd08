// tests/support/spsc_transfer.hpp — drive a lossless SPSC channel with checked
// messages (checked_message.hpp) through one of its API flavours.
//
//   que_test::produce<flavour>(tx, total)               sends seq 0..total-1
//   que_test::consume<flavour>(rx, total, finished)     receives until `total`
//         arrived or finished() (the producer is done) and the ring is empty;
//         returns the sequence_checker, for the caller to assert perfect(total).
//   que_test::transfer<flavour>(tx, rx, total)          both, on two threads pinned
//         to CPUs 0 and 1 (where the machine has them).
//
// Flavours:
//   single   push / try_push  ->  try_pop(T&) / try_pop() / pop() in rotation
//   batch    try_push(span) of 1..64  ->  try_pop(span) of 1..64 (sizes vary, so
//            batches land across the end of the array at every offset)
//   inplace  claim + one or two partial commits  ->  peek + one or two releases,
//            verifying the messages in the slots themselves
//
// Works with any handle pair that has que::spsc's API (heap, hugepages and shm
// backings alike; across processes, call produce/consume on each side and pass
// a finished() that reads a shared flag). Never blocks forever: a lost message
// ends consume() once finished() is true, with the loss in the checker.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "checked_message.hpp"
#include "pinning.hpp"

namespace que_test {

enum class flavour { single, batch, inplace };

inline const char* flavour_name(flavour f) noexcept {
    switch (f) {
    case flavour::single: return "push/pop";
    case flavour::batch: return "batch span";
    case flavour::inplace: return "claim/commit + peek/release";
    }
    return "?";
}

// Deterministic sizes 1..max that change every call (an LCG: no <random> state
// to share between threads).
class size_stream {
public:
    explicit size_stream(std::uint64_t seed) noexcept : s_(seed * 2 + 1) {}
    std::size_t next(std::size_t max) noexcept {
        s_ = s_ * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<std::size_t>((s_ >> 33) % max) + 1;
    }

private:
    std::uint64_t s_;
};

inline constexpr std::size_t max_batch = 64;

template <flavour F, class Producer>
void produce(Producer& tx, std::uint64_t total) {
    using M = typename Producer::value_type;
    backoff wait;
    size_stream sizes(1);
    std::uint64_t seq = 0;
    if constexpr (F == flavour::single) {
        for (; seq < total; ++seq) {
            const M m = M::make(seq);
            if (seq % 4 == 0) {
                tx.push(m);
            } else {
                while (!tx.try_push(m)) wait.pause();
                wait.reset();
            }
        }
    } else if constexpr (F == flavour::batch) {
        std::vector<M> buf(max_batch);
        while (seq < total) {
            const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(sizes.next(max_batch), total - seq));
            for (std::size_t i = 0; i < k; ++i) M::make_at(&buf[i], seq + i);
            std::size_t sent = 0;
            while (sent < k) {
                const std::size_t n = tx.try_push(std::span<const M>(buf.data() + sent, k - sent));
                if (n == 0) {
                    wait.pause();
                } else {
                    wait.reset();
                }
                sent += n;
            }
            seq += k;
        }
    } else {
        while (seq < total) {
            const std::size_t want =
                static_cast<std::size_t>(std::min<std::uint64_t>(sizes.next(max_batch), total - seq));
            std::span<M> w = tx.claim(want);
            if (w.empty()) {
                wait.pause();
                continue;
            }
            wait.reset();
            // Write a prefix of the claim (sometimes all of it) and publish it in
            // one or two commits, the second one asking for more than is left.
            const std::size_t k = sizes.next(w.size());
            for (std::size_t i = 0; i < k; ++i) M::make_at(&w[i], seq + i);
            const std::size_t first = sizes.next(k);
            tx.commit(first);
            if (first < k) tx.commit(k - first);
            seq += k;
        }
    }
}

template <flavour F, class Consumer, class Finished>
sequence_checker consume(Consumer& rx, std::uint64_t total, Finished&& finished) {
    using M = typename Consumer::value_type;
    sequence_checker check;
    backoff wait;
    size_stream sizes(2);
    std::vector<M> buf(F == flavour::batch ? max_batch : 1);
    // One attempt to receive; false when the ring was empty.
    auto receive = [&]() -> bool {
        if constexpr (F == flavour::single) {
            switch (check.received % 3) {
            case 0: {
                M m;
                if (!rx.try_pop(m)) return false;
                check.feed(m);
                return true;
            }
            case 1: {
                const auto m = rx.try_pop();
                if (!m) return false;
                check.feed(*m);
                return true;
            }
            default:
                if (rx.empty()) return false;
                check.feed(rx.pop());  // cannot block: a message is published
                return true;
            }
        } else if constexpr (F == flavour::batch) {
            const std::size_t n = rx.try_pop(std::span<M>(buf.data(), sizes.next(max_batch)));
            for (std::size_t i = 0; i < n; ++i) check.feed(buf[i]);
            return n != 0;
        } else {
            std::span<const M> r = rx.peek();
            if (r.empty()) return false;
            const std::size_t k = sizes.next(r.size());
            for (std::size_t i = 0; i < k; ++i) check.feed(r[i]);  // verified in place
            const std::size_t first = sizes.next(k);
            rx.release(first);
            if (first < k) rx.release(k - first);
            return true;
        }
    };
    while (check.received < total) {
        if (receive()) {
            wait.reset();
            continue;
        }
        // Empty. If the producer had already finished before this re-check,
        // everything it sent is published: an empty ring now means the rest was
        // lost, and waiting longer would hang the test instead of failing it.
        if (finished()) {
            if (!receive()) break;
            continue;
        }
        wait.pause();
    }
    return check;
}

struct transfer_result {
    sequence_checker check;
    int pinned = 0;  // threads that got their own CPU (2 on a machine with two)
};

template <flavour F, class Producer, class Consumer>
transfer_result transfer(Producer& tx, Consumer& rx, std::uint64_t total) {
    std::atomic<bool> done{false};
    transfer_result r;
    r.pinned = run_pair(
        [&] {
            produce<F>(tx, total);
            // release: everything published above is visible to a consumer that
            // sees done == true (its acquire load below).
            done.store(true, std::memory_order_release);
        },
        [&] { r.check = consume<F>(rx, total, [&] { return done.load(std::memory_order_acquire); }); });
    return r;
}

}  // namespace que_test
