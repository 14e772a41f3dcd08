// que/spsc.hpp — the lossless single-producer single-consumer channel.
//
// Contract:
//  - One thread (or process) uses the producer, one the consumer; each handle
//    is move-only and not thread-safe. Producer and consumer may be in
//    different threads or different processes (backing que::shm).
//  - Bounded and FIFO with backpressure: the producer never overwrites a slot
//    the consumer has not released. try_* calls never wait; push/pop spin
//    while full/empty.
//  - Every hot-path call is noexcept, allocates nothing and makes no system
//    call. Setup (make/open) reports errors as que::errc, by exception or,
//    with the std::error_code& overload, without.
//  - A message is visible to the consumer once the call that published it
//    (try_push, push, batch try_push, commit) has returned; everything
//    published before the producer died is still delivered, intact.
//
// Algorithm: a Lamport ring with 64-bit monotonic indices (full is
// `write - read == N`, no slack slot) and, on each side, a private cached copy
// of the other side's index that is refreshed only when it says full/empty —
// so in steady state a side touches the other side's line once per lap of
// cached progress, not once per message. The ring's state lives in the
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
#include <optional>
#include <span>
#include <system_error>
#include <utility>

#include "backing/heap.hpp"
#include "backing/hugepages.hpp"
#include "detail/cpu.hpp"
#include "detail/element.hpp"
#include "detail/layout.hpp"
#include "detail/mapping.hpp"
#include "detail/type_tag.hpp"

namespace que::spsc {

template <element T, std::size_t N>
class producer;
template <element T, std::size_t N>
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
};

// What both handles share: the mapping and pointers into it.
template <class T, std::size_t N>
class endpoint {
public:
    static_assert(que::detail::is_power_of_two(N), "que: capacity N must be a power of two");

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
    std::span<std::byte, que::detail::metadata_size> metadata() const noexcept {
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
template <element T, std::size_t N>
class producer : public detail::endpoint<T, N> {
    using base = detail::endpoint<T, N>;
    using base::cons_;
    using base::mask;
    using base::prod_;
    using base::slots_;

public:
    using value_type = T;

    producer() = default;
    producer(producer&& o) noexcept
        : base(std::move(o)), write_(o.write_), cached_read_(o.cached_read_), claimed_(o.claimed_) {}
    producer& operator=(producer&& o) noexcept {
        if (this != &o) {
            base::operator=(std::move(o));
            write_ = o.write_;
            cached_read_ = o.cached_read_;
            claimed_ = o.claimed_;
        }
        return *this;
    }
    producer(const producer&) = delete;
    producer& operator=(const producer&) = delete;

    // Joins (or creates) the channel in a shared backing as its producer.
    template <backing B>
    static producer open(const B& where) {
        return que::detail::throw_on_error("que::spsc::producer::open",
                                           [&](std::error_code& ec) { return open(where, ec); });
    }
    template <backing B>
    static producer open(const B& where, std::error_code& ec) {
        que::detail::mapping m = where.attach(detail::spec<T, N>(), ec);
        if (ec) return {};
        return producer(std::move(m));
    }

    // Copies `value` into the ring. False, and nothing written, when full.
    bool try_push(const T& value) noexcept {
        if (free_slots(1) == 0) return false;
        std::memcpy(static_cast<void*>(slots_ + (write_ & mask)), &value, sizeof(T));
        publish(1);
        return true;
    }

    // Copies `value` into the ring, spinning while it is full.
    void push(const T& value) noexcept {
        while (!try_push(value)) que::detail::cpu_relax();
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
    std::span<T> claim(std::size_t n) noexcept {
        const std::uint64_t at = write_ & mask;
        const std::uint64_t k = std::min<std::uint64_t>({n, free_slots(n), N - at});
        claimed_ = k;
        return {slots_ + at, static_cast<std::size_t>(k)};
    }

    // Publishes the first `k` slots of the last claim (clamped to its size).
    void commit(std::size_t k) noexcept {
        const std::uint64_t n = std::min<std::uint64_t>(k, claimed_);
        claimed_ -= n;
        if (n != 0) publish(n);
    }

    // Messages in the ring (a snapshot: the consumer may be draining it).
    std::size_t size() const noexcept {
        // acquire is not needed for a count; relaxed gives a value that was
        // true at some instant, which is all a snapshot can promise.
        const std::uint64_t used = write_ - cons_->read.load(std::memory_order_relaxed);
        return static_cast<std::size_t>(std::min<std::uint64_t>(used, N));
    }
    bool full() const noexcept { return size() == N; }

private:
    friend struct detail::access;

    explicit producer(que::detail::mapping m) noexcept : base(std::move(m)) {
        // A producer may join a live channel (e.g. restart after a crash):
        // continue from what is published. Acquire on read pairs with the
        // consumer's release so its reads of those slots are done before we
        // reuse them.
        write_ = prod_->write.load(std::memory_order_acquire);
        cached_read_ = cons_->read.load(std::memory_order_acquire);
        if (write_ - cached_read_ > N) cached_read_ = write_;  // insane peer index: see free_slots
    }

    // Free slots, at least `want` if that many exist: re-reads the consumer's
    // index only when the cached copy shows too few.
    std::uint64_t free_slots(std::uint64_t want) noexcept {
        std::uint64_t free = N - (write_ - cached_read_);
        if (free < want) {
            // acquire: pairs with the consumer's release store of `read`, so
            // its copies out of the slots we are about to overwrite happened
            // before our writes (no overwrite of an unread message).
            const std::uint64_t r = cons_->read.load(std::memory_order_acquire);
            // The index comes from another process: trust it only if it lies in
            // [write - N, write]. Anything else is a corrupt peer; treating the
            // ring as full keeps every slot access in bounds and loses nothing.
            if (write_ - r <= N) cached_read_ = r;
            free = N - (write_ - cached_read_);
        }
        return free;
    }

    void publish(std::uint64_t n) noexcept {
        write_ += n;
        // release: the slot contents written above become visible to a
        // consumer no later than the index that tells it they are there.
        prod_->write.store(write_, std::memory_order_release);
    }

    std::uint64_t write_ = 0;        // private: next index to write (== published write)
    std::uint64_t cached_read_ = 0;  // private: last seen consumer index
    std::uint64_t claimed_ = 0;      // slots handed out by the last claim()
};

// The receiving end. Only one thread may use it at a time.
template <element T, std::size_t N>
class consumer : public detail::endpoint<T, N> {
    using base = detail::endpoint<T, N>;
    using base::cons_;
    using base::mask;
    using base::prod_;
    using base::slots_;

public:
    using value_type = T;

    consumer() = default;
    consumer(consumer&& o) noexcept : base(std::move(o)), read_(o.read_), cached_write_(o.cached_write_) {}
    consumer& operator=(consumer&& o) noexcept {
        if (this != &o) {
            base::operator=(std::move(o));
            read_ = o.read_;
            cached_write_ = o.cached_write_;
        }
        return *this;
    }
    consumer(const consumer&) = delete;
    consumer& operator=(const consumer&) = delete;

    // Joins (or creates) the channel in a shared backing as its consumer. A
    // consumer that joins a channel already holding messages receives them.
    template <backing B>
    static consumer open(const B& where) {
        return que::detail::throw_on_error("que::spsc::consumer::open",
                                           [&](std::error_code& ec) { return open(where, ec); });
    }
    template <backing B>
    static consumer open(const B& where, std::error_code& ec) {
        que::detail::mapping m = where.attach(detail::spec<T, N>(), ec);
        if (ec) return {};
        return consumer(std::move(m));
    }

    // Copies the oldest message into `out`. False, `out` untouched, when empty.
    bool try_pop(T& out) noexcept {
        if (available(1) == 0) return false;
        std::memcpy(static_cast<void*>(&out), slots_ + (read_ & mask), sizeof(T));
        retire(1);
        return true;
    }

    std::optional<T> try_pop() noexcept {
        if (available(1) == 0) return std::nullopt;
        std::optional<T> out(slots_[read_ & mask]);
        retire(1);
        return out;
    }

    // The oldest message, spinning while the ring is empty.
    T pop() noexcept {
        while (available(1) == 0) que::detail::cpu_relax();
        T out(slots_[read_ & mask]);
        retire(1);
        return out;
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
    // They stay valid and unchanged until release().
    std::span<const T> peek() noexcept {
        const std::uint64_t at = read_ & mask;
        const std::uint64_t k = std::min<std::uint64_t>(available(1), N - at);
        return {slots_ + at, static_cast<std::size_t>(k)};
    }

    // Gives the oldest `k` messages back to the producer (clamped to what is
    // published and seen).
    void release(std::size_t k) noexcept {
        const std::uint64_t n = std::min<std::uint64_t>(k, cached_write_ - read_);
        if (n != 0) retire(n);
    }

    std::size_t size() const noexcept {
        const std::uint64_t used = prod_->write.load(std::memory_order_relaxed) - read_;
        return used <= N ? static_cast<std::size_t>(used) : 0;
    }
    bool empty() const noexcept { return size() == 0; }

private:
    friend struct detail::access;

    explicit consumer(que::detail::mapping m) noexcept : base(std::move(m)) {
        read_ = cons_->read.load(std::memory_order_acquire);
        cached_write_ = prod_->write.load(std::memory_order_acquire);
        if (cached_write_ - read_ > N) cached_write_ = read_;  // insane peer index: see available
    }

    // Published, unread messages, at least `want` if that many exist:
    // re-reads the producer's index only when the cached copy shows too few.
    std::uint64_t available(std::uint64_t want) noexcept {
        std::uint64_t avail = cached_write_ - read_;
        if (avail < want) {
            // acquire: pairs with the producer's release store of `write`, so
            // the slot contents it published are visible before we read them.
            const std::uint64_t w = prod_->write.load(std::memory_order_acquire);
            // Trust the other process's index only within [read, read + N]; a
            // corrupt one reads as "nothing new", keeping every access in bounds.
            if (w - read_ <= N) cached_write_ = w;
            avail = cached_write_ - read_;
        }
        return avail;
    }

    void retire(std::uint64_t n) noexcept {
        read_ += n;
        // release: our copies out of these slots are complete before the
        // producer can see them as free and overwrite them.
        cons_->read.store(read_, std::memory_order_release);
    }

    std::uint64_t read_ = 0;          // private: next index to read (== published read)
    std::uint64_t cached_write_ = 0;  // private: last seen producer index
};

// Creates a channel in `where` (process-private by default) and returns both
// ends. With que::shm this creates or joins by name, like open().
template <element T, std::size_t N, backing B = heap>
std::pair<producer<T, N>, consumer<T, N>> make(const B& where, std::error_code& ec) {
    que::detail::mapping m = where.attach(detail::spec<T, N>(), ec);
    if (ec) return {};
    que::detail::mapping copy = m;  // both handles own the memory
    return {detail::access::adopt<producer<T, N>>(std::move(m)),
            detail::access::adopt<consumer<T, N>>(std::move(copy))};
}

template <element T, std::size_t N, backing B = heap>
std::pair<producer<T, N>, consumer<T, N>> make(const B& where = {}) {
    return que::detail::throw_on_error("que::spsc::make",
                                       [&](std::error_code& ec) { return make<T, N>(where, ec); });
}

} // namespace que::spsc
