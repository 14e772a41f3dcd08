// que/detail/wait.hpp — the waiting loop every blocking call uses, and the
// publisher's half of the sleep/wake protocol.
//
// The protocol (a sleeper S waiting for a condition that a publisher P makes
// true by storing an index; `futex` and `waiters` are two 32-bit words in the
// block of the side that publishes):
//
//   S: seq = futex.load()                 P: index.store(new, seq_cst)      (W2)
//      waiters.fetch_add(1, seq_cst)  (W1)   if (waiters.load(seq_cst))     (R2)
//      if (condition(seq_cst)) done   (R1)       futex.fetch_add(1); FUTEX_WAKE(futex)
//      FUTEX_WAIT(futex, seq)
//      waiters.fetch_sub(1)
//
// No lost wake-up: W1, R1, W2, R2 are all seq_cst, so they sit in one total
// order. If W1 precedes R2, P sees the sleeper and bumps `futex` after S read
// `seq` (R2 reads from W1's release sequence, so S's read of `seq`
// happens-before the bump): the kernel's FUTEX_WAIT then either finds the
// word changed and returns at once, or is queued before the FUTEX_WAKE and
// woken (the kernel compares and queues atomically with respect to wakes).
// Otherwise R2 precedes W1, hence W2 precedes R1, and S's re-check sees the
// new index and does not sleep. The StoreLoad ordering on each side is what
// seq_cst buys; a seq_cst fence between a release store and a load would do
// the same, but TSan does not model standalone fences (false reports, and
// gcc's -Wtsan warning), so the orderings sit on the operations. On x86 the
// publisher's seq_cst store is an xchg instead of a mov; only handles of a
// sleeping strategy pay it (wait::spin handles never sleep, so their peers
// never need to look).
//
// close() and peer death do not use the waiters count: close bumps `futex`
// and wakes unconditionally (it is rare), and death is found by the periodic
// check every sleeper makes (its futex sleep is bounded by check_every).
//
// Other channel kinds reuse both halves. A blocking pop for an spmc consumer:
//   site = {&prod->data_futex, &prod->data_waiters, nullptr,
//           &prod->pid, &prod->start_time, &prod->wakes};
//   wait_until<W>(site, [&](std::memory_order o) {
//       /* load what "a message is there" depends on with `o` */ ... ok / closed / pending
//   }, deadline);
// and its producer, when it wakes sleepers (`wakes` = 1), stores what that
// probe loads with seq_cst and calls wake_waiters(prod->data_futex,
// prod->data_waiters) after every publication. With many consumers the count
// may be left high by a consumer killed in its sleep; that costs the
// producer a spurious FUTEX_WAKE per publication, never a lost wake-up.
#pragma once

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "../wait.hpp"
#include "cpu.hpp"
#include "futex.hpp"
#include "liveness.hpp"

namespace que::detail {

// A probe's "not yet": the condition is neither satisfied nor ended.
inline constexpr status pending = static_cast<status>(0xff);

using wait_clock = std::chrono::steady_clock;

// Where a waiter sleeps and whom it watches. All pointers into the segment.
struct wait_site {
    std::atomic<std::uint32_t>* futex = nullptr;    // the word to sleep on (bumped by the publisher)
    std::atomic<std::uint32_t>* waiters = nullptr;  // how many sleep on it (we increment while asleep)
    std::atomic<std::uint64_t>* heartbeat = nullptr;     // ours, bumped at each liveness check; may be null
    const std::atomic<std::uint32_t>* peer_pid = nullptr;       // the publisher's pid
    const std::atomic<std::uint64_t>* peer_start_time = nullptr;
    const std::atomic<std::uint32_t>* peer_wakes = nullptr;     // nonzero: the publisher wakes sleepers
    // The waiter's own published index and its value (spsc; may be null):
    // stored again at each liveness check, so a stray write over it (a
    // hostile or buggy process with access to the segment) stalls the peer
    // for at most one check_every instead of for good. Storing the value
    // already published again publishes nothing new.
    std::atomic<std::uint64_t>* own_index = nullptr;
    std::uint64_t own_value = 0;
    // Optional slow check made at each liveness check after the peer's
    // (system calls allowed): anything but `pending` ends the wait with that
    // status, after a last probe (spmc: status::replaced when the segment's
    // name no longer leads to it).
    status (*segment_check)(const void*) noexcept = nullptr;
    const void* segment_check_arg = nullptr;
};

// Publisher side, called right after the index was stored with seq_cst:
// wakes the sleepers, paying the system call only when there are some.
inline void wake_waiters(std::atomic<std::uint32_t>& futex, std::atomic<std::uint32_t>& waiters) noexcept {
    if (waiters.load(std::memory_order_seq_cst) != 0) [[unlikely]] {
        futex.fetch_add(1, std::memory_order_release);
        futex_wake_all(&futex);
    }
}

// Unconditional wake, for close(): rare, and must reach sleepers whatever
// strategy the closing side uses.
inline void wake_all(std::atomic<std::uint32_t>& futex) noexcept {
    futex.fetch_add(1, std::memory_order_release);
    futex_wake_all(&futex);
}

// A deadline from a duration, saturating instead of overflowing
// (pop_for(std::chrono::hours::max()) waits forever).
template <class Rep, class Period>
wait_clock::time_point deadline_after(const std::chrono::duration<Rep, Period>& d) noexcept {
    const auto now = wait_clock::now();
    if (d <= d.zero()) return now;
    // Compared as floating seconds so no cast can overflow; 3e9 s is ~95 years.
    if (std::chrono::duration<double>(d).count() >= 3.0e9) return wait_clock::time_point::max();
    return now + std::chrono::ceil<wait_clock::duration>(d);
}

// Waits until `probe` says anything but `pending`, the deadline passes
// (status::timeout) or the peer is found dead (status::peer_dead, after a
// last probe so nothing it published is lost).
//
// probe(order) checks the condition, loading the index it depends on with
// `order` (the re-check before sleeping passes seq_cst; see the protocol
// above), and returns ok / closed / pending. It must be cheap: it runs on
// every spin.
//
// Phases: W::spins rounds of cpu_relax (no system calls, no clock reads),
// then rounds of sched_yield (W::yields of them for a sleeping strategy,
// forever for a spinning one), then futex sleeps of at most W::check_every.
// Every W::check_every in the slow phases: heartbeat, and a liveness check of
// the peer (kill + /proc read).
template <wait_policy W, class Probe>
status wait_until(const wait_site& site, Probe&& probe, wait_clock::time_point deadline) noexcept {
    // Callers come here having just found the condition false, so the spin
    // pauses before each look: looking again at once only pulls the line
    // the publisher is about to write away from it a second time.
    for (std::uint32_t i = 0; i < W::spins; ++i) {
        cpu_relax();
        if (const status r = probe(std::memory_order_acquire); r != pending) return r;
    }
    const wait_clock::duration check_every = W::check_every;
    auto next_check = wait_clock::now() + check_every;
    std::uint32_t yielded = 0;
    for (;;) {
        if (const status r = probe(std::memory_order_acquire); r != pending) return r;
        const auto now = wait_clock::now();
        if (now >= deadline) return status::timeout;
        if (now >= next_check) {
            next_check = now + check_every;
            if (site.heartbeat != nullptr) site.heartbeat->fetch_add(1, std::memory_order_relaxed);
            // release, as the original publication of own_value [pair:spsc-write] [pair:spsc-read].
            if (site.own_index != nullptr) site.own_index->store(site.own_value, std::memory_order_release);
            if (check_peer(*site.peer_pid, *site.peer_start_time) == peer_state::dead) {
                if (const status r = probe(std::memory_order_acquire); r != pending) return r;
                return status::peer_dead;
            }
            if (site.segment_check != nullptr) {
                if (const status s = site.segment_check(site.segment_check_arg); s != pending) {
                    if (const status r = probe(std::memory_order_acquire); r != pending) return r;
                    return s;
                }
            }
        }
        if constexpr (!W::sleeps) {
            ::sched_yield();
        } else {
            if (yielded < W::yields) {
                ++yielded;
                ::sched_yield();
                continue;
            }
            const std::uint32_t seq = site.futex->load(std::memory_order_acquire);
            site.waiters->fetch_add(1, std::memory_order_seq_cst);
            const status r = probe(std::memory_order_seq_cst);
            if (r == pending) {
                // A peer that never wakes sleepers (wait::spin) is polled instead.
                const wait_clock::duration slice =
                    site.peer_wakes->load(std::memory_order_relaxed) != 0 ? check_every
                                                                          : wait_clock::duration(wait::poll_slice);
                futex_wait(site.futex, seq, std::min(slice, deadline - now));
            }
            // release: nothing to publish, but keeps the count's RMWs in one
            // release sequence (see the protocol above).
            site.waiters->fetch_sub(1, std::memory_order_release);
            if (r != pending) return r;
        }
    }
}

} // namespace que::detail
