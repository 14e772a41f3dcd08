// que/spsc.hpp — the lossless single-producer single-consumer channel.
//
// Contract:
//  - One thread (or process) uses the producer, one the consumer; each handle
//    is move-only and not thread-safe. Producer and consumer may be in
//    different threads or different processes (backing que::shm).
//  - Bounded and FIFO with backpressure: the producer never overwrites a slot
//    the consumer has not released. try_* calls never wait; push/pop wait
//    while full/empty, as the handle's wait strategy W says (que/wait.hpp:
//    wait::spin, the default, spins then yields; wait::sleep may sleep on a
//    futex in the shared block).
//  - Every hot-path call is noexcept and allocates nothing; it makes a system
//    call only when about to sleep or wake a sleeper (wait::sleep), or after
//    waiting a while, to check the peer is alive. Setup (make/open) reports
//    errors as que::errc, by exception or, with the std::error_code& overload,
//    without.
//  - Ending: the producer's close() (or its destruction) closes the stream:
//    the consumer still receives everything sent before, then blocking pops
//    return status::closed (try_pop just says empty), and the closed
//    producer itself sends nothing more (push: status::closed, try_push:
//    false). `T pop()` is for streams that never end: on one that ended it
//    has no message to return and calls que::fatal (que/wait.hpp), which
//    aborts with a message, rather than make one up. The consumer's close()
//    (or destruction) tells the producer nobody listens: a push that finds
//    the ring full returns status::closed instead of waiting. A peer process
//    that dies without closing (kill -9) is found by a waiting call within
//    about W::check_every, which then returns status::peer_dead.
//  - Roles: each side records its pid and process start time in its block
//    while a handle holds it; opening a side that a live process holds fails
//    with errc::role_taken, a dead holder's side is taken over
//    (detail/liveness.hpp says what counts as alive). A handle that takes a
//    side over reads the shared indices only once it holds the role, so it
//    continues exactly where its predecessor left off; a producer that
//    finds an insane read index (outside [write - N, write]) treats the ring
//    as full, as a running one does.
//  - A consumer that dies without close() (kill -9) leaves the read index
//    where it last released: a consumer that opens the channel then receives
//    again, in order, the messages the dead one took but had not handed back
//    — fewer than min(64, N/4) taken by single pops (see below), plus any it
//    had peeked and not released — and nothing is skipped. The messages a
//    pop call was returning when its process was killed may have been handed
//    back already and are then gone with it (at most that call's count; one
//    for a single pop). For at-least-once delivery across consumer crashes,
//    read with peek(), process, then release(). tests/soak checks both.
//  - A message is visible to the consumer once the call that published it
//    (try_push, push, batch try_push, commit) has returned; everything
//    published before the producer died is still delivered, intact.
//  - Write and read in place: any publication other than commit() (try_push,
//    push, batch try_push) ends an outstanding claim(), whose later commit()
//    then publishes nothing. A pop between peek() and release() takes the
//    span's first messages (those entries are then invalid), and release()
//    gives back only messages the last peek() showed that no pop took.
//  - Capacity: N * sizeof(T) must fit in que::detail::max_ring_bytes (2^47),
//    checked at compile time; a joined header's sizes are recomputed without
//    overflow (errc::corrupt_segment otherwise).
//  - Shared memory is writable by every process that maps it: a peer that
//    writes garbage over the shared fields can stall the stream or end a
//    wait early (closed, peer_dead), never make a handle access memory
//    outside the segment; every index read from it is bounded, and a
//    waiting side re-stores its own index at each liveness check so a stray
//    write stalls its peer for one W::check_every only. A peer writing
//    plausible indices can make messages be overwritten or re-read: see
//    docs/security-ring.md.
//  - Slots come back to the producer in groups: single-message pops return
//    theirs every min(64, N/4) messages (at least 1) and whenever the
//    consumer has taken every message it knew of; batch pops, release() and
//    close() return theirs at once. So a producer may find the ring full
//    while fewer than min(64, N/4) messages have been read and not yet
//    returned; never while one has not been read. A consumer that waits or
//    sleeps holds none back.
//
// Algorithm: a Lamport ring with 64-bit monotonic indices (full is
// `write - read == N`, no slack slot) and, on each side, a private cached copy
// of the other side's index that is refreshed only when it says full/empty —
// so in steady state a side touches the other side's line once per lap of
// cached progress, not once per message — and the consumer's batched release
// above (B-Queue, MCRingBuffer); a blocking pop also lets the producer finish
// the cache line it is filling before reading it (let_line_fill). Per-slot sequence words (FastForward,
// atomic_queue) measured 0.6-1.07x of this ring at 8 bytes here and would
// break the contiguous spans of claim/peek; bench/ring_designs.hpp keeps
// every candidate runnable beside the peers. The ring's state lives in the
// pointer-free layout of detail/layout.hpp; the private copies live in the
// handles (process-local memory) because keeping them on a shared line made
// the round trip 301 ns instead of 170 ns here (docs/design.md).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <array>
#include <bit>
#include <chrono>
#include <optional>
#include <span>
#include <system_error>
#include <utility>

#include "backing/heap.hpp"
#include "backing/hugepages.hpp"
#include "backing/shm.hpp"
#include "detail/cpu.hpp"
#include "detail/describe.hpp"
#include "detail/element.hpp"
#include "detail/layout.hpp"
#include "detail/mapping.hpp"
#include "detail/type_tag.hpp"
#include "detail/liveness.hpp"
#include "detail/wait.hpp"
#include "wait.hpp"

namespace que::spsc {

template <element T, std::size_t N, wait_policy W = wait::spin>
class producer;
template <element T, std::size_t N, wait_policy W = wait::spin>
class consumer;

namespace detail {

template <class T, std::size_t N>
constexpr que::detail::channel_spec spec() noexcept {
    return {que::detail::channel_kind::spsc, sizeof(T), alignof(T), N, type_tag_v<T>, sizeof(T)};
}

// Lets make() build handles from a mapping without making that constructor public.
struct access {
    template <class Handle>
    static Handle adopt(que::detail::mapping m) noexcept {
        return Handle(std::move(m));
    }
    template <class Handle>
    static bool join(Handle& h) noexcept {
        return h.join();
    }
    // Gives a joined role back without closing the stream (a make() that
    // failed half-way must not end a live peer's stream).
    template <class Handle>
    static void abandon(Handle& h) noexcept {
        h.leave(false);
    }
};

// What both handles share: the mapping and pointers into it.
//
// alignas(cache_line): every handle (producer and consumer derive from this)
// starts a 128-byte block and, its size being a multiple of its alignment,
// ends one, so no two handles ever share a 128-byte block however the user
// holds them: the std::pair make() returns, a struct with both, a
// std::vector (std::allocator uses C++17 aligned new), two threads' stacks.
// Without it the producer's write_/cached_read_ (written every push) landed
// on the line holding the consumer's pointers and indices (read every pop)
// whenever the pair sat badly modulo 64, and every message moved that line
// between the cores (docs/benchmarks.md, "handles"). 128, not 64: the
// adjacent-line prefetcher pulls lines in pairs.
template <class T, std::size_t N>
class alignas(que::detail::cache_line) endpoint {
public:
    static_assert(que::detail::is_power_of_two(N), "que: capacity N must be a power of two");
    static_assert(que::detail::ring_fits(sizeof(T), N),
                  "que: capacity N times the slot size exceeds que::detail::max_ring_bytes (2^47 bytes)");

    static constexpr std::size_t capacity() noexcept { return N; }

    // False for a moved-from or default-constructed handle, or one whose
    // error_code open failed.
    explicit operator bool() const noexcept { return slots_ != nullptr; }

    // The page size actually backing the ring, and whether a huge-page request
    // fell back to standard pages.
    que::page_size page_size() const noexcept { return map_.pages; }
    bool fell_back() const noexcept { return map_.fell_back; }

    // A small block of the segment free for the application (e.g. a schema id
    // or configuration both processes agree on). Not synchronised by que.
    // On a handle without a channel (default-constructed or moved-from): a
    // block of this thread's own, zeroed at every call, that no channel
    // shares (reads see zeros, writes reach nobody).
    std::span<std::byte, que::detail::metadata_size> metadata() const noexcept {
        if (map_.base == nullptr) {
            alignas(que::detail::cache_line) thread_local std::byte none[que::detail::metadata_size];
            std::memset(none, 0, sizeof none);
            return std::span<std::byte, que::detail::metadata_size>(none);
        }
        return std::span<std::byte, que::detail::metadata_size>(que::detail::metadata_of(map_.base),
                                                               que::detail::metadata_size);
    }

protected:
    static constexpr std::uint64_t mask = N - 1;

    endpoint() = default;
    explicit endpoint(que::detail::mapping m) noexcept
        : slots_(reinterpret_cast<T*>(que::detail::slots_of(m.base))),
          prod_(que::detail::producer_of(m.base)),
          cons_(que::detail::consumer_of(m.base)),
          map_(std::move(m)) {}

    endpoint(endpoint&& o) noexcept
        : slots_(std::exchange(o.slots_, nullptr)),
          prod_(std::exchange(o.prod_, nullptr)),
          cons_(std::exchange(o.cons_, nullptr)),
          map_(std::exchange(o.map_, {})) {}

    endpoint& operator=(endpoint&& o) noexcept {
        slots_ = std::exchange(o.slots_, nullptr);
        prod_ = std::exchange(o.prod_, nullptr);
        cons_ = std::exchange(o.cons_, nullptr);
        map_ = std::exchange(o.map_, {});
        return *this;
    }

    // Hot members first: they share the handle's first cache line.
    T* slots_ = nullptr;
    que::detail::producer_block* prod_ = nullptr;
    que::detail::consumer_block* cons_ = nullptr;
    que::detail::mapping map_;
};

} // namespace detail

// The sending end. Only one thread may use it at a time.
template <element T, std::size_t N, wait_policy W>
class producer : public detail::endpoint<T, N> {
    using base = detail::endpoint<T, N>;
    using base::cons_;
    using base::mask;
    using base::prod_;
    using base::slots_;

public:
    using value_type = T;
    using wait_strategy = W;

    producer() = default;
    producer(producer&& o) noexcept
        : base(std::move(o)),
          write_(o.write_),
          cached_read_(o.cached_read_),
          claimed_(o.claimed_),
          self_(std::exchange(o.self_, 0)),
          closed_self_(o.closed_self_) {}
    producer& operator=(producer&& o) noexcept {
        if (this != &o) {
            leave();
            base::operator=(std::move(o));
            write_ = o.write_;
            cached_read_ = o.cached_read_;
            claimed_ = o.claimed_;
            self_ = std::exchange(o.self_, 0);
            closed_self_ = o.closed_self_;
        }
        return *this;
    }
    producer(const producer&) = delete;
    producer& operator=(const producer&) = delete;

    // Closes the stream (see close()) and gives up the producer role.
    ~producer() { leave(); }

    // Joins (or creates) the channel in a shared backing as its producer.
    template <backing B>
    static producer open(const B& where) {
        return que::detail::setup_or_throw(
            que::detail::site_of<T, N>("que::spsc::producer", "open", detail::spec<T, N>(), "producer"), where,
            [&](std::error_code& ec) { return open(where, ec); });
    }
    template <backing B>
    static producer open(const B& where, std::error_code& ec) {
        que::detail::mapping m = where.attach(detail::spec<T, N>(), ec);
        if (ec) return {};
        producer p(std::move(m));
        if (!p.join()) {
            ec = errc::role_taken;
            return {};
        }
        return p;
    }

    // Copies `value` into the ring. False, and nothing written, when full
    // (or after this producer's close()).
    bool try_push(const T& value) noexcept {
        if (free_slots(1) == 0) return false;
        std::memcpy(static_cast<void*>(slots_ + (write_ & mask)), &value, sizeof(T));
        publish(1);
        return true;
    }

    // Copies `value` into the ring, waiting (per W) while it is full.
    // status::ok once written; status::closed if the ring is full and the
    // consumer has gone away (closed or destroyed; a ring with room still
    // accepts the message: check closed() to stop early); status::peer_dead
    // if the ring is full and the consumer's process died; status::closed
    // at once after this producer's own close().
    status push(const T& value) noexcept { return push_until(value, que::detail::wait_clock::time_point::max()); }

    // push, giving up with status::timeout once `timeout` has passed (not
    // before) and the ring is still full.
    template <class Rep, class Period>
    status push_for(const T& value, const std::chrono::duration<Rep, Period>& timeout) noexcept {
        if (try_push(value)) return status::ok;
        return push_until(value, que::detail::deadline_after(timeout));
    }

    status push_until(const T& value, std::chrono::steady_clock::time_point deadline) noexcept {
        if (free_slots(1) == 0) {
            if (closed_self_) return status::closed;  // our own close()
            const status s = que::detail::wait_until<W>(space_site(), [this](std::memory_order order) noexcept {
                if (free_slots(1, order) != 0) return status::ok;
                if (cons_->closed.load(std::memory_order_acquire) != 0 ||
                    prod_->closed.load(std::memory_order_relaxed) != 0)
                    return status::closed;
                return que::detail::pending;
            }, deadline);
            if (s != status::ok) {
                // A blocking push that gives up re-stores our index: a stray
                // write over it (detail/wait.hpp, own_index) must not wedge a
                // consumer that only sees an insane index. Same value: no new
                // publication [pair:spsc-write].
                prod_->write.store(write_, std::memory_order_release);
                return s;
            }
        }
        std::memcpy(static_cast<void*>(slots_ + (write_ & mask)), &value, sizeof(T));
        publish(1);
        return status::ok;
    }

    // Ends the stream: the consumer receives what was sent, then sees
    // status::closed. Wakes a sleeping consumer whatever the strategies.
    // After close() this handle sends nothing: try_push returns false (batch:
    // 0), push/push_for/push_until return status::closed, claim() is empty
    // and an outstanding claim's commit() publishes nothing. The destructor
    // closes; a producer that opens the channel later reopens the stream.
    void close() noexcept {
        if (prod_ == nullptr) return;
        // The cached copy now says "full", so every push takes its slow path
        // (free_slots re-reads), which sees closed_self_ and finds no room:
        // the fast path carries no extra test. Private, not the shared
        // `closed` (which a stray write could set): only our own close()
        // stops our sends.
        closed_self_ = true;
        cached_read_ = write_ - N;
        claimed_ = 0;
        // seq_cst store, then the unconditional wake: a consumer that read
        // the futex word before our bump is woken or finds it changed; one
        // that read it after also sees closed == 1 (the bump is released
        // after this store). See detail/wait.hpp.
        prod_->closed.store(1, std::memory_order_seq_cst);
        que::detail::wake_all(prod_->data_futex);
    }

    // True once this producer closed or the consumer went away (closed or
    // destroyed): messages pushed now may never be read.
    bool closed() const noexcept {
        return prod_ != nullptr && (cons_->closed.load(std::memory_order_acquire) != 0 ||
                                    prod_->closed.load(std::memory_order_relaxed) != 0);
    }

    // Whether a live process holds the consumer side now (system calls: not
    // for the hot path). False when no consumer has joined, when it left,
    // and when its process died (pid gone, a zombie, or the pid reused).
    bool peer_alive() const noexcept {
        return cons_ != nullptr && que::detail::check_peer(cons_->pid, cons_->start_time) == que::detail::peer_state::alive;
    }

    // Copies as many of `items` as fit (in order) and publishes them with one
    // index store. Returns how many were written.
    std::size_t try_push(std::span<const T> items) noexcept {
        const std::uint64_t n = std::min<std::uint64_t>(items.size(), free_slots(items.size()));
        if (n == 0) return 0;
        const std::uint64_t at = write_ & mask;
        const std::uint64_t first = std::min<std::uint64_t>(n, N - at);  // up to the end of the array
        std::memcpy(static_cast<void*>(slots_ + at), items.data(), first * sizeof(T));
        std::memcpy(static_cast<void*>(slots_), items.data() + first, (n - first) * sizeof(T));
        publish(n);
        return static_cast<std::size_t>(n);
    }

    // Write in place: returns up to `n` contiguous free slots (fewer when the
    // ring is fuller or the free run wraps; empty when full). Fill a prefix
    // and publish it with commit(k). Until then the consumer sees none of it.
    // Any other publication (try_push, push, batch try_push) ends the claim:
    // a commit after it publishes nothing (its slots may hold the pushed
    // message and lie past the free space), and the span must not be used.
    std::span<T> claim(std::size_t n) noexcept {
        const std::uint64_t at = write_ & mask;
        const std::uint64_t k = std::min<std::uint64_t>({n, free_slots(n), N - at});
        claimed_ = k;
        return {slots_ + at, static_cast<std::size_t>(k)};
    }

    // Publishes the first `k` slots of the last claim (clamped to what is
    // left of it: a commit publishes the claim's next slots, and nothing once
    // another publication ended the claim).
    void commit(std::size_t k) noexcept {
        const std::uint64_t n = std::min<std::uint64_t>(k, claimed_);
        if (n == 0) return;
        const std::uint64_t left = claimed_ - n;
        publish(n);
        claimed_ = left;
    }

    // Messages in the ring (a snapshot: the consumer may be draining it),
    // counting those the consumer has read but not yet returned (see the
    // contract above: fewer than min(64, N/4)). 0 on a handle without a
    // channel (default-constructed or moved-from).
    std::size_t size() const noexcept {
        if (cons_ == nullptr) return 0;
        // acquire is not needed for a count; relaxed gives a value that was
        // true at some instant, which is all a snapshot can promise.
        const std::uint64_t used = write_ - cons_->read.load(std::memory_order_relaxed);
        return static_cast<std::size_t>(std::min<std::uint64_t>(used, N));
    }
    bool full() const noexcept { return size() == N; }

private:
    friend struct detail::access;

    explicit producer(que::detail::mapping m) noexcept : base(std::move(m)) {}

    // Takes the producer role (false: a live process holds it), then loads
    // the indices and resets the producer's shared state for this session.
    bool join() noexcept {
        if (!que::detail::claim_role(prod_->pid, prod_->start_time)) {
            que::detail::keep_name(this->map_);  // a refused handle must not unlink the holder's channel
            return false;
        }
        self_ = que::detail::self_pid();
        // A producer may join a live channel (e.g. restart after a crash):
        // continue from what is published. Only now, holding the role: a
        // previous holder may have published more until it gave the role up
        // (it left inside our claim), and indices loaded before the claim
        // would overwrite that and move the shared index back. The acquire on
        // write pairs with the previous holder's release [pair:spsc-write]
        // (the claim's acq_rel on pid orders it too); the one on read with
        // the consumer's release [pair:spsc-read], so its copies out of those
        // slots are done before we reuse them.
        write_ = prod_->write.load(std::memory_order_acquire);     // [pair:spsc-write]
        cached_read_ = cons_->read.load(std::memory_order_acquire);  // [pair:spsc-read]
        // An insane read index (outside [write - N, write]) reads as "full",
        // as free_slots judges it: nothing unread can be overwritten.
        if (write_ - cached_read_ > N) cached_read_ = write_ - N;
        claimed_ = 0;
        // We are the only producer: nobody sleeps on space_futex now (a
        // predecessor killed in its sleep may have left the count at 1, which
        // would cost the consumer a system call per release).
        cons_->space_waiters.store(0, std::memory_order_relaxed);
        prod_->wakes.store(W::sleeps ? 1 : 0, std::memory_order_release);
        prod_->closed.store(0, std::memory_order_release);  // a new producer reopens the stream
        return true;
    }

    // close() and give the role back; only the process that joined does it
    // (a forked child's inherited copy must not close the parent's stream).
    void leave(bool close_stream = true) noexcept {
        if (self_ == 0) return;
        if (self_ == que::detail::self_pid()) {
            if (close_stream) close();
            prod_->wakes.store(0, std::memory_order_relaxed);
            que::detail::release_role(prod_->pid, self_);
        }
        self_ = 0;
    }

    que::detail::wait_site space_site() const noexcept {
        return {&cons_->space_futex, &cons_->space_waiters, &prod_->heartbeat,
                &cons_->pid,         &cons_->start_time,    &cons_->wakes,
                &prod_->write,       write_};
    }

    // Free slots, at least `want` if that many exist: re-reads the consumer's
    // index only when the cached copy shows too few.
    std::uint64_t free_slots(std::uint64_t want, std::memory_order order = std::memory_order_acquire) noexcept {
        std::uint64_t free = N - (write_ - cached_read_);
        if (free < want) {
            // Closed by this producer (close() made the cache say full to get
            // here): no room, ever.
            if (closed_self_) return 0;
            // acquire: pairs with the consumer's release store of `read`, so
            // its copies out of the slots we are about to overwrite happened
            // before our writes (no overwrite of an unread message). seq_cst
            // for a sleeper's last look before sleeping (detail/wait.hpp).
            const std::uint64_t r = cons_->read.load(order);  // [pair:spsc-read]
            // The index comes from another process: trust it only if it lies in
            // [write - N, write]. Anything else is a corrupt peer; treating the
            // ring as full keeps every slot access in bounds and loses nothing.
            if (write_ - r <= N) cached_read_ = r;
            free = N - (write_ - cached_read_);
        }
        return free;
    }

    // Every publication ends an outstanding claim (commit keeps what is left
    // of its own): the claimed slots lay after the old write position.
    void publish(std::uint64_t n) noexcept {
        claimed_ = 0;
        write_ += n;
        if constexpr (W::sleeps) {
            // seq_cst store then seq_cst load of the waiters count: the
            // StoreLoad order that makes the sleep/wake protocol lose no
            // wake-up (proof in detail/wait.hpp). seq_cst includes release.
            prod_->write.store(write_, std::memory_order_seq_cst);  // [pair:spsc-write]
            que::detail::wake_waiters(prod_->data_futex, prod_->data_waiters);
        } else {
            // release: the slot contents written above become visible to a
            // consumer no later than the index that tells it they are there.
            // A spinning producer does not look for sleepers: a sleeping
            // consumer sees our `wakes` == 0 and polls (wait::poll_slice).
            prod_->write.store(write_, std::memory_order_release);  // [pair:spsc-write]
        }
    }

    std::uint64_t write_ = 0;        // private: next index to write (== published write)
    std::uint64_t cached_read_ = 0;  // private: last seen consumer index
    std::uint64_t claimed_ = 0;      // slots handed out by the last claim()
    std::uint32_t self_ = 0;         // our pid while we hold the producer role, else 0
    bool closed_self_ = false;       // this handle's close() ran: it sends nothing more
};

// The receiving end. Only one thread may use it at a time.
template <element T, std::size_t N, wait_policy W>
class consumer : public detail::endpoint<T, N> {
    using base = detail::endpoint<T, N>;
    using base::cons_;
    using base::mask;
    using base::prod_;
    using base::slots_;

public:
    using value_type = T;
    using wait_strategy = W;

    consumer() = default;
    consumer(consumer&& o) noexcept
        : base(std::move(o)),
          read_(o.read_),
          released_(o.released_),
          cached_write_(o.cached_write_),
          settled_(o.settled_),
          peek_end_(o.peek_end_),
          self_(std::exchange(o.self_, 0)) {}
    consumer& operator=(consumer&& o) noexcept {
        if (this != &o) {
            leave();
            base::operator=(std::move(o));
            read_ = o.read_;
            released_ = o.released_;
            cached_write_ = o.cached_write_;
            settled_ = o.settled_;
            peek_end_ = o.peek_end_;
            self_ = std::exchange(o.self_, 0);
        }
        return *this;
    }
    consumer(const consumer&) = delete;
    consumer& operator=(const consumer&) = delete;

    // Closes (see close()) and gives up the consumer role.
    ~consumer() { leave(); }

    // Joins (or creates) the channel in a shared backing as its consumer. A
    // consumer that joins a channel already holding messages receives them.
    template <backing B>
    static consumer open(const B& where) {
        return que::detail::setup_or_throw(
            que::detail::site_of<T, N>("que::spsc::consumer", "open", detail::spec<T, N>(), "consumer"), where,
            [&](std::error_code& ec) { return open(where, ec); });
    }
    template <backing B>
    static consumer open(const B& where, std::error_code& ec) {
        que::detail::mapping m = where.attach(detail::spec<T, N>(), ec);
        if (ec) return {};
        consumer c(std::move(m));
        if (!c.join()) {
            ec = errc::role_taken;
            return {};
        }
        return c;
    }

    // Copies the oldest message into `out`. False, `out` untouched, when empty.
    bool try_pop(T& out) noexcept {
        if (available(1) == 0) return false;
        std::memcpy(static_cast<void*>(&out), slots_ + (read_ & mask), sizeof(T));
        retire_one();
        return true;
    }

    std::optional<T> try_pop() noexcept {
        if (available(1) == 0) return std::nullopt;
        std::optional<T> out(slots_[read_ & mask]);
        retire_one();
        return out;
    }

    // The oldest message, waiting (per W) while the ring is empty. For
    // streams that never end: if this one ends (closed and drained, or the
    // producer died) there is no message to return, and pop() does not make
    // one up: it calls que::fatal (que/wait.hpp: prints which call and why,
    // then aborts). On a stream that can end use pop(T&) or pop_for, which
    // return status::closed / status::peer_dead.
    T pop() noexcept {
        if (const status s = ready([] { return que::detail::wait_clock::time_point::max(); }); s != status::ok)
            stream_ended(s);
        T out(slots_[read_ & mask]);
        retire_one();
        return out;
    }

    // Copies the oldest message into `out`, waiting (per W) while the ring is
    // empty. status::ok with a message; status::closed when the producer
    // closed and every message it sent has been received (immediately, on a
    // closed and drained channel); status::peer_dead when the producer's
    // process died and everything it published has been received. `out` is
    // untouched unless ok.
    status pop(T& out) noexcept { return pop_until(out, que::detail::wait_clock::time_point::max()); }

    // pop, giving up with status::timeout once `timeout` has passed (not
    // before) with the ring still empty.
    template <class Rep, class Period>
    status pop_for(T& out, const std::chrono::duration<Rep, Period>& timeout) noexcept {
        if (try_pop(out)) return status::ok;
        return pop_until(out, que::detail::deadline_after(timeout));
    }

    // The same, as an optional: empty on timeout, closed or a dead producer
    // (closed() and peer_alive() tell which).
    template <class Rep, class Period>
    std::optional<T> pop_for(const std::chrono::duration<Rep, Period>& timeout) noexcept {
        if (ready([&] { return que::detail::deadline_after(timeout); }) != status::ok) return std::nullopt;
        std::optional<T> out(slots_[read_ & mask]);
        retire_one();
        return out;
    }

    status pop_until(T& out, std::chrono::steady_clock::time_point deadline) noexcept {
        if (const status s = ready([deadline] { return deadline; }); s != status::ok) return s;
        std::memcpy(static_cast<void*>(&out), slots_ + (read_ & mask), sizeof(T));
        retire_one();
        return status::ok;
    }

    // Tells the producer nobody will read any more: its push returns
    // status::closed once the ring is full, and wakes if it sleeps there.
    // Reading what is left is still allowed; the destructor closes too; a
    // consumer that opens the channel later reopens it.
    void close() noexcept {
        if (cons_ == nullptr) return;
        // Return what single pops read but did not release yet, so a consumer
        // that opens the channel later starts after the last message read.
        if (released_ != read_) publish_read();
        // Unconditional wake after the store: see producer::close().
        cons_->closed.store(1, std::memory_order_seq_cst);
        que::detail::wake_all(cons_->space_futex);
    }

    // True once the producer closed the stream (or this consumer closed).
    // Messages may still be waiting: the stream has ended when closed() and
    // a following try_pop finds nothing.
    bool closed() const noexcept {
        return prod_ != nullptr && (prod_->closed.load(std::memory_order_acquire) != 0 ||
                                    cons_->closed.load(std::memory_order_relaxed) != 0);
    }

    // Whether a live process holds the producer side now (system calls: not
    // for the hot path). False when no producer has joined, when it left,
    // and when its process died (pid gone, a zombie, or the pid reused).
    bool peer_alive() const noexcept {
        return prod_ != nullptr && que::detail::check_peer(prod_->pid, prod_->start_time) == que::detail::peer_state::alive;
    }

    // Copies up to out.size() messages (in order), releases them with one
    // index store, returns how many.
    std::size_t try_pop(std::span<T> out) noexcept {
        const std::uint64_t n = std::min<std::uint64_t>(out.size(), available(out.size()));
        if (n == 0) return 0;
        const std::uint64_t at = read_ & mask;
        const std::uint64_t first = std::min<std::uint64_t>(n, N - at);
        std::memcpy(static_cast<void*>(out.data()), slots_ + at, first * sizeof(T));
        std::memcpy(static_cast<void*>(out.data() + first), slots_, (n - first) * sizeof(T));
        retire(n);
        return static_cast<std::size_t>(n);
    }

    // Read in place: the contiguous run of published messages starting at the
    // oldest (empty when the ring is; shorter than size() when it wraps).
    // They stay valid and unchanged until release() gives them back.
    // A pop (single or batch) between peek() and release() takes the span's
    // first messages: those entries of the span are no longer valid (their
    // slots may be handed back and rewritten); the rest stay valid, and
    // release() gives back only those, never a message the span did not show.
    std::span<const T> peek() noexcept {
        const std::uint64_t at = read_ & mask;
        const std::uint64_t k = std::min<std::uint64_t>(available(1), N - at);
        peek_end_ = read_ + k;
        return {slots_ + at, static_cast<std::size_t>(k)};
    }

    // Gives the oldest `k` messages back to the producer, clamped to those the
    // last peek() showed that no pop has taken since (so without a peek, or
    // after pops past it, nothing).
    void release(std::size_t k) noexcept {
        const std::uint64_t shown = peek_end_ - read_;  // wraps to > N once pops passed peek_end_
        const std::uint64_t n = std::min<std::uint64_t>(k, shown <= N ? shown : 0);
        if (n != 0) retire(n);
    }

    // Published messages not yet read (a snapshot). 0 on a handle without a
    // channel (default-constructed or moved-from).
    std::size_t size() const noexcept {
        if (prod_ == nullptr) return 0;
        const std::uint64_t used = prod_->write.load(std::memory_order_relaxed) - read_;
        return used <= N ? static_cast<std::size_t>(used) : 0;
    }
    bool empty() const noexcept { return size() == 0; }

private:
    friend struct detail::access;

    explicit consumer(que::detail::mapping m) noexcept : base(std::move(m)) {}

    [[noreturn, gnu::cold, gnu::noinline]] static void stream_ended(status s) noexcept {
        que::fatal(s == status::closed
                       ? "que::spsc::consumer::pop(): the stream is closed (the producer closed it and every message "
                         "was received), so T pop() has no message to return; on a stream that can end use "
                         "pop(T&) or pop_for, which return status::closed"
                       : "que::spsc::consumer::pop(): the producer's process died and every message it published "
                         "was received, so T pop() has no message to return; on a stream that can end use "
                         "pop(T&) or pop_for, which return status::peer_dead");
    }

    // Takes the consumer role (false: a live process holds it), then loads
    // the indices and resets the consumer's shared state for this session.
    bool join() noexcept {
        if (!que::detail::claim_role(cons_->pid, cons_->start_time)) {
            que::detail::keep_name(this->map_);  // a refused handle must not unlink the holder's channel
            return false;
        }
        self_ = que::detail::self_pid();
        // Only now, holding the role (see producer::join): a previous consumer
        // may have released more until it left inside our claim; starting
        // from an older read index would read those messages again.
        // [pair:spsc-read]: the previous consumer's release of read (it is
        // our own side's index; acquire for its close() that came after).
        // [pair:spsc-write]: the producer's release, as in available().
        read_ = released_ = peek_end_ = cons_->read.load(std::memory_order_acquire);  // [pair:spsc-read]
        cached_write_ = prod_->write.load(std::memory_order_acquire);  // [pair:spsc-write]
        if (cached_write_ - read_ > N) cached_write_ = read_;  // insane peer index: see available
        // The only consumer: nobody sleeps on data_futex now (see producer::join).
        prod_->data_waiters.store(0, std::memory_order_relaxed);
        cons_->wakes.store(W::sleeps ? 1 : 0, std::memory_order_release);
        cons_->closed.store(0, std::memory_order_release);
        return true;
    }

    // close() and give the role back, in the process that joined only.
    void leave(bool close_stream = true) noexcept {
        if (self_ == 0) return;
        if (self_ == que::detail::self_pid()) {
            if (close_stream) close();
            cons_->wakes.store(0, std::memory_order_relaxed);
            que::detail::release_role(cons_->pid, self_);
        }
        self_ = 0;
    }

    que::detail::wait_site data_site() const noexcept {
        return {&prod_->data_futex, &prod_->data_waiters, &cons_->heartbeat,
                &prod_->pid,        &prod_->start_time,   &prod_->wakes,
                &cons_->read,       released_};
    }

    // Waits until a message is available (ok), the stream ended (closed,
    // peer_dead) or the deadline passed (timeout).
    status wait_for_data(que::detail::wait_clock::time_point deadline) noexcept {
        return que::detail::wait_until<W>(data_site(), [this](std::memory_order order) noexcept {
            if (available(1, order) != 0) return status::ok;
            if (prod_->closed.load(std::memory_order_acquire) != 0 ||
                cons_->closed.load(std::memory_order_relaxed) != 0) {
                // The producer stored `closed` after its last publication, and
                // we loaded it with acquire: one more look sees everything it
                // sent, so "closed" is reported only once drained.
                return available(1) != 0 ? status::ok : status::closed;
            }
            return que::detail::pending;
        }, deadline);
    }

    // For the blocking pops: status::ok once a message is available, waiting
    // (per W, until deadline()) while there is none.
    template <class Deadline>
    status ready(Deadline deadline) noexcept {
        if (read_ != cached_write_) {  // known messages: no shared access, unless the
            if constexpr (sizeof(T) < physical_line) {  // next is in the line the producer may be filling
                if (cached_write_ != settled_ && line_of(read_) == line_of(cached_write_)) let_line_fill();
            }
            return status::ok;
        }
        if (available(1) == 0) {
            // A streaming producer publishes again within a pause or two: a
            // message that comes that soon counts as found without waiting.
            for (int i = 0; i < 2; ++i) {
                que::detail::cpu_relax();
                if (available(1) != 0) {
                    let_line_fill();
                    return status::ok;
                }
            }
            const status s = wait_for_data(deadline());
            settled_ = cached_write_;  // waited: take what came at once
            // Giving up: re-store the index last released (see push_until) [pair:spsc-read].
            if (s != status::ok) cons_->read.store(released_, std::memory_order_release);
            return s;
        }
        let_line_fill();
        return status::ok;
    }

    // Letting the producer finish its line. A consumer that keeps up with a
    // streaming producer reads each slot's line right after the producer
    // wrote it, so the producer must win the line back for its next message
    // in the same line: a line transfer per message each way. perf showed
    // such runs spending 40 % of the consumer's time on the slot load and
    // settling at 30-50 M/s of 8-byte messages, where runs in which the
    // producer stays ahead reach 150-300 M/s (docs/benchmarks.md). So a
    // blocking pop about to read the line the producer's index points into
    // first lets the producer go on: it looks at the index again after each
    // pause while the index keeps moving within that line (at most a line's
    // worth of messages), and takes what is there as soon as the producer
    // stops or moves on. A pop that had to wait for its message takes it at
    // once (a lone message's latency is unchanged), and the wait happens at
    // most once per look at the index (settled_). try_pop never waits.
    void let_line_fill() noexcept {
        if constexpr (sizeof(T) < physical_line) {
            for (std::size_t i = 0; i < physical_line / sizeof(T) && line_of(read_) == line_of(cached_write_); ++i) {
                const std::uint64_t seen = cached_write_;
                que::detail::cpu_relax();
                // acquire: as in available(). The same one-lap trust check,
                // and only forward: a peer moving its index back must not
                // un-publish what was seen.
                const std::uint64_t w = prod_->write.load(std::memory_order_acquire);  // [pair:spsc-write]
                if (w - read_ <= N && w - read_ > cached_write_ - read_) cached_write_ = w;
                if (cached_write_ == seen) break;  // the producer paused: take what is there
            }
            settled_ = cached_write_;
        }
    }

    // 64, not que::detail::cache_line (128): a reader takes one line from
    // the writer; pairs of lines matter only for keeping two writers apart.
    static constexpr std::size_t physical_line = 64;
    static constexpr std::uint64_t line_of(std::uint64_t index) noexcept {
        return (index & mask) * sizeof(T) / physical_line;
    }

    // Published, unread messages, at least `want` if that many exist:
    // re-reads the producer's index only when the cached copy shows too few.
    std::uint64_t available(std::uint64_t want, std::memory_order order = std::memory_order_acquire) noexcept {
        std::uint64_t avail = cached_write_ - read_;
        if (avail < want) {
            // acquire: pairs with the producer's release store of `write`, so
            // the slot contents it published are visible before we read them.
            // seq_cst for a sleeper's last look before sleeping (detail/wait.hpp).
            const std::uint64_t w = prod_->write.load(order);  // [pair:spsc-write]
            // Trust the other process's index only within [read, read + N]; a
            // corrupt one reads as "nothing new", keeping every access in bounds.
            if (w - read_ <= N) cached_write_ = w;
            avail = cached_write_ - read_;
        }
        return avail;
    }

    // Batched release (as in B-Queue and MCRingBuffer): a single-message pop
    // returns its slot to the producer only every release_every messages, or
    // when it took the last message the consumer knew of. Storing `read` on
    // every pop made the producer, spinning on a full ring, pull that line
    // back and forth once per message; this way it moves once per
    // release_every messages (in the minimal ring of bench/ring_designs.hpp,
    // 32-43 M/s of 8-byte messages became 136-278 M/s; docs/benchmarks.md).
    // The cost is capacity the producer cannot see yet: fewer than
    // release_every read slots. Returning them when the consumer drains what
    // it saw keeps a consumer that waits (or sleeps) from holding any: it
    // only waits once read_ == cached_write_, and the pop that got there
    // published.
    static constexpr std::uint64_t release_every = N / 4 < 1 ? 1 : (N / 4 > 64 ? 64 : N / 4);

    void retire_one() noexcept {
        ++read_;
        if (read_ - released_ >= release_every || read_ == cached_write_) publish_read();
    }

    void retire(std::uint64_t n) noexcept {
        read_ += n;
        publish_read();
    }

    void publish_read() noexcept {
        released_ = read_;
        if constexpr (W::sleeps) {
            // seq_cst store, then the waiters load: see producer::publish.
            cons_->read.store(read_, std::memory_order_seq_cst);  // [pair:spsc-read]
            que::detail::wake_waiters(cons_->space_futex, cons_->space_waiters);
        } else {
            // release: our copies out of these slots are complete before the
            // producer can see them as free and overwrite them.
            cons_->read.store(read_, std::memory_order_release);  // [pair:spsc-read]
        }
    }

    std::uint64_t read_ = 0;          // private: next index to read
    std::uint64_t released_ = 0;      // private: the index last stored to cons_->read (<= read_)
    std::uint64_t cached_write_ = 0;  // private: last seen producer index
    std::uint64_t settled_ = 0;       // private: a cached_write_ whose line needs no more waiting (let_line_fill)
    std::uint64_t peek_end_ = 0;      // private: one past the last message the last peek() showed
    std::uint32_t self_ = 0;          // our pid while we hold the consumer role, else 0
};

// Creates a channel in `where` (process-private by default) and returns both
// ends. With que::shm this creates or joins by name, like open().
// W is both ends' wait strategy (que/wait.hpp): make<Msg, 4096, que::wait::sleep>().
template <element T, std::size_t N, wait_policy W = wait::spin, backing B = heap>
std::pair<producer<T, N, W>, consumer<T, N, W>> make(const B& where, std::error_code& ec) {
    que::detail::mapping m = where.attach(detail::spec<T, N>(), ec);
    if (ec) return {};
    que::detail::mapping copy = m;  // both handles own the memory
    std::pair<producer<T, N, W>, consumer<T, N, W>> ends{detail::access::adopt<producer<T, N, W>>(std::move(m)),
                                                         detail::access::adopt<consumer<T, N, W>>(std::move(copy))};
    if (!detail::access::join(ends.first)) {
        ec = errc::role_taken;
        return {};
    }
    if (!detail::access::join(ends.second)) {
        detail::access::abandon(ends.first);
        ec = errc::role_taken;
        return {};
    }
    return ends;
}

template <element T, std::size_t N, wait_policy W = wait::spin, backing B = heap>
std::pair<producer<T, N, W>, consumer<T, N, W>> make(const B& where = {}) {
    return que::detail::setup_or_throw(que::detail::site_of<T, N>("que::spsc::make", "", detail::spec<T, N>()),
                                       where, [&](std::error_code& ec) { return make<T, N, W>(where, ec); });
}

} // namespace que::spsc
