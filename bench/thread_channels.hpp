// bench/thread_channels.hpp — every contender between two threads, behind one
// small interface so the harness treats them alike:
//
//   using message_type;           the payload
//   static constexpr const char* name;
//   channel();                    builds the ring (may throw: the harness skips)
//   std::size_t slots() const;    what the ring really holds (peers round up)
//   void send(const message_type&);   spins while full
//   void recv(message_type&);         spins while empty
//   void produce(first, n);       producer loop: n messages stamped first, first+1, ...
//   void consume(first, n);       consumer loop: receives and checks n messages
//
// produce/consume default to loops over send/recv (produce_each and
// consume_each); que's batch and in-place flavours replace them with loops over
// their own calls. Every wait loop spins with `pause`, as que's own do, so no
// contender wins or loses on its spin hint.
//
// Which peers exist is decided by CMake (QUE_BENCH_HAVE_*): a missing package
// removes a contender, it never breaks the build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <tuple>
#include <utility>

#include "common.hpp"

#if QUE_BENCH_HAVE_QUE_SPSC
#include <que/spsc.hpp>
#endif
#if QUE_BENCH_HAVE_BOOST_LOCKFREE
#include <boost/lockfree/spsc_queue.hpp>
#endif
#if QUE_BENCH_HAVE_MOODYCAMEL
#include <readerwriterqueue/readerwriterqueue.h>
#endif
#if QUE_BENCH_HAVE_ATOMIC_QUEUE
#include <atomic_queue/atomic_queue.h>
#endif

namespace que_bench {

template <class C>
void produce_each(C& c, std::uint64_t first, std::uint64_t n) {
    message_source<typename C::message_type> src(first);
    for (std::uint64_t s = first; s != first + n; ++s) {
        c.send(src[s]);
        src.next(s);
    }
}

template <class C>
void consume_each(C& c, std::uint64_t first, std::uint64_t n) {
    typename C::message_type m;
    for (std::uint64_t s = first; s != first + n; ++s) {
        c.recv(m);
        check(m, s, C::name);
    }
}

// Mixin giving a channel the default produce/consume loops.
template <class Derived>
struct per_message_loops {
    void produce(std::uint64_t first, std::uint64_t n) { produce_each(static_cast<Derived&>(*this), first, n); }
    void consume(std::uint64_t first, std::uint64_t n) { consume_each(static_cast<Derived&>(*this), first, n); }
};

// ---------------------------------------------------------------- que

#if QUE_BENCH_HAVE_QUE_SPSC

// Makes a que channel in this process on standard or 2 MiB pages. A missing
// huge-page pool throws, and the harness turns that into a skipped benchmark.
template <class M, std::size_t N, bool Huge>
auto make_que_channel() {
#if QUE_BENCH_HAVE_QUE_HUGEPAGES
    if constexpr (Huge) return que::spsc::make<M, N>(que::hugepages{que::page_size::huge_2m});
    else
#endif
        return que::spsc::make<M, N>();
}

// Holds both ends of a que channel made in one process, moved apart: each in
// a 4 KiB-aligned holder of its own (a page apart), as far apart as two
// threads' stacks. que's handles own whole 128-byte blocks (alignas), so this
// and que_push_pair (the pair make() returns, used in place) must measure
// alike; the two rows check it.
template <class T>
struct alignas(4096) own_page {
    T value;
};

template <class M, std::size_t N, bool Huge>
class que_ends {
public:
    que_ends() : que_ends(make_que_channel<M, N, Huge>()) {}
    std::size_t slots() const noexcept { return N; }

protected:
    template <class Pair>
    explicit que_ends(Pair&& ends) : tx_{std::get<0>(std::move(ends))}, rx_{std::get<1>(std::move(ends))} {}

    auto& tx() noexcept { return tx_.value; }
    auto& rx() noexcept { return rx_.value; }

private:
    using pair_type = decltype(make_que_channel<M, N, Huge>());
    own_page<std::tuple_element_t<0, pair_type>> tx_;
    own_page<std::tuple_element_t<1, pair_type>> rx_;
};

// The plain API: push (spins while full) and pop (spins while empty).
template <class M, std::size_t N, bool Huge = false>
struct que_push : que_ends<M, N, Huge>, per_message_loops<que_push<M, N, Huge>> {
    using message_type = M;
    static constexpr const char* name = Huge ? "que_push_huge" : "que_push";
    void send(const M& m) noexcept { push_or_abort(this->tx(), m, name); }
    void recv(M& m) noexcept { m = this->rx().pop(); }
};

// The non-waiting calls in the caller's own spin loop (try_push / try_pop,
// `pause` between tries), as a peer's loop is written.
template <class M, std::size_t N>
struct que_try : que_ends<M, N, false>, per_message_loops<que_try<M, N>> {
    using message_type = M;
    static constexpr const char* name = "que_try";
    void send(const M& m) noexcept {
        while (!this->tx().try_push(m)) relax();
    }
    void recv(M& m) noexcept {
        while (!this->rx().try_pop(m)) relax();
    }
};

// The README's own usage: both ends left side by side in the std::pair make()
// returns, used from two threads by reference, as in
//   auto [tx, rx] = que::spsc::make<M, N>(); std::thread t([&rx] { ... });
// Before the handles were aligned to 128-byte blocks their private indices
// shared cache lines here (docs/benchmarks.md); a contender in every table.
template <class M, std::size_t N>
struct que_push_pair : per_message_loops<que_push_pair<M, N>> {
    using message_type = M;
    static constexpr const char* name = "que_push_pair";
    decltype(make_que_channel<M, N, false>()) ends = make_que_channel<M, N, false>();

    std::size_t slots() const noexcept { return N; }
    void send(const M& m) noexcept { push_or_abort(std::get<0>(ends), m, name); }
    void recv(M& m) noexcept { m = std::get<1>(ends).pop(); }
};

// Batches through try_push(span) / try_pop(span): one index publication per
// batch. The producer builds each batch in a staging array (stamping two words
// per message, as the single-message loop does in its one message).
template <class M, std::size_t N>
struct que_batch : que_ends<M, N, false> {
    using message_type = M;
    static constexpr const char* name = "que_batch";
    static constexpr std::size_t batch = batch_for(sizeof(M));

    void send(const M& m) noexcept { push_or_abort(this->tx(), m, name); }
    void recv(M& m) noexcept { m = this->rx().pop(); }

    void produce(std::uint64_t first, std::uint64_t n) {
        M staged[batch];
        for (auto& m : staged) fill(m);
        auto& tx = this->tx();
        for (std::uint64_t s = first; s != first + n;) {
            const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(batch, first + n - s));
            for (std::size_t i = 0; i < k; ++i) stamp(staged[i], s + i);
            for (std::size_t done = 0; done < k;) {
                const std::size_t put = tx.try_push(std::span<const M>(staged + done, k - done));
                if (put == 0) relax();
                done += put;
            }
            s += k;
        }
    }
    void consume(std::uint64_t first, std::uint64_t n) {
        M out[batch];
        auto& rx = this->rx();
        for (std::uint64_t s = first; s != first + n;) {
            const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(batch, first + n - s));
            const std::size_t got = rx.try_pop(std::span<M>(out, want));
            if (got == 0) relax();
            for (std::size_t i = 0; i < got; ++i) check(out[i], s + i, name);
            s += got;
        }
    }
};

// Write in place (claim/commit) and read in place (peek/release). The
// producer copies its whole message into the slot, as push would (from the
// same message_source); the
// consumer checks the two stamped words where they lie and copies nothing —
// that is the point of peek, and it means this consumer touches two lines of
// a large message where a copying consumer reads all of them.
template <class M, std::size_t N>
struct que_inplace : que_ends<M, N, false> {
    using message_type = M;
    static constexpr const char* name = "que_inplace";
    static constexpr std::size_t batch = batch_for(sizeof(M));

    void send(const M& m) noexcept { push_or_abort(this->tx(), m, name); }
    void recv(M& m) noexcept { m = this->rx().pop(); }

    void produce(std::uint64_t first, std::uint64_t n) {
        message_source<M> src(first);
        auto& tx = this->tx();
        for (std::uint64_t s = first; s != first + n;) {
            const std::span<M> w = tx.claim(static_cast<std::size_t>(std::min<std::uint64_t>(batch, first + n - s)));
            if (w.empty()) {
                relax();
                continue;
            }
            for (M& slot : w) {
                slot = src[s];
                src.next(s++);
            }
            tx.commit(w.size());
        }
    }
    void consume(std::uint64_t first, std::uint64_t n) {
        auto& rx = this->rx();
        for (std::uint64_t s = first; s != first + n;) {
            const std::span<const M> r = rx.peek();
            if (r.empty()) {
                relax();
                continue;
            }
            // Release in batch-sized steps so the producer sees free slots as
            // soon as a batch is checked, not after a whole ring's worth.
            const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>({r.size(), batch, first + n - s}));
            for (std::size_t i = 0; i < k; ++i) check(r[i], s + i, name);
            rx.release(k);
            s += k;
        }
    }
};

#endif  // QUE_BENCH_HAVE_QUE_SPSC

// ---------------------------------------------------------------- peers

#if QUE_BENCH_HAVE_BOOST_LOCKFREE
// boost::lockfree::spsc_queue with its capacity set at run time (heap array).
template <class M, std::size_t N>
struct boost_spsc : per_message_loops<boost_spsc<M, N>> {
    using message_type = M;
    static constexpr const char* name = "boost_spsc";
    boost::lockfree::spsc_queue<M> q{N};

    std::size_t slots() const noexcept { return N; }
    void send(const M& m) noexcept {
        while (!q.push(m)) relax();
    }
    void recv(M& m) noexcept {
        while (!q.pop(m)) relax();
    }
};
#endif

#if QUE_BENCH_HAVE_MOODYCAMEL
// moodycamel::ReaderWriterQueue used as a bounded queue: try_enqueue never
// allocates, so the capacity given at construction is the bound.
template <class M, std::size_t N>
struct moodycamel_rwq : per_message_loops<moodycamel_rwq<M, N>> {
    using message_type = M;
    static constexpr const char* name = "moodycamel";
    moodycamel::ReaderWriterQueue<M> q{N};

    std::size_t slots() const noexcept { return N; }
    void send(const M& m) noexcept {
        while (!q.try_enqueue(m)) relax();
    }
    void recv(M& m) noexcept {
        while (!q.try_dequeue(m)) relax();
    }
};
#endif

#if QUE_BENCH_HAVE_ATOMIC_QUEUE
// atomic_queue in its SPSC configuration with MAXIMIZE_THROUGHPUT, through
// its blocking push/pop, which spin on the slot itself (its fastest path).
// 8-byte payloads go through AtomicQueueB, whose slot *is* the value with 0
// reserved as "empty" (sequence numbers start at 1, so 0 never travels);
// larger payloads need AtomicQueueB2, a state byte per slot beside the value.
// AtomicQueueB2 rounds its capacity up to at least 4096 slots.
template <class M, std::size_t N>
struct atomic_queue_spsc : per_message_loops<atomic_queue_spsc<M, N>> {
    using message_type = M;
    static constexpr const char* name = "atomic_queue";
    static constexpr bool word = sizeof(M) == sizeof(std::uint64_t);
    using queue_type = std::conditional_t<
        word,
        atomic_queue::AtomicQueueB<std::uint64_t, std::allocator<std::uint64_t>, std::uint64_t{0}, true, false, true>,
        atomic_queue::AtomicQueueB2<M, std::allocator<M>, true, false, true>>;
    queue_type q{static_cast<unsigned>(N)};

    std::size_t slots() const noexcept { return q.capacity(); }
    void send(const M& m) noexcept {
        if constexpr (word) q.push(m.words[0]);
        else q.push(m);
    }
    void recv(M& m) noexcept {
        if constexpr (word) m.words[0] = q.pop();
        else m = q.pop();
    }
};
#endif

// The baseline everyone would write first: a std::deque under a std::mutex,
// bounded by a size check; both sides retry with a pause when full/empty.
template <class M, std::size_t N>
struct mutex_deque : per_message_loops<mutex_deque<M, N>> {
    using message_type = M;
    static constexpr const char* name = "mutex_deque";

    std::size_t slots() const noexcept { return N; }
    void send(const M& m) {
        for (;;) {
            {
                std::lock_guard lock(mu_);
                if (q_.size() < N) {
                    q_.push_back(m);
                    return;
                }
            }
            relax();
        }
    }
    void recv(M& m) {
        for (;;) {
            {
                std::lock_guard lock(mu_);
                if (!q_.empty()) {
                    m = q_.front();
                    q_.pop_front();
                    return;
                }
            }
            relax();
        }
    }

private:
    alignas(line_bytes) std::mutex mu_;
    std::deque<M> q_;
};

}  // namespace que_bench
