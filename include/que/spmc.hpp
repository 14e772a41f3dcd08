// que/spmc.hpp — the headless (lossy) single-producer multi-consumer channel.
//
//   auto [tx, rx] = que::spmc::make<Tick, 4096>();          // producer + a first consumer
//   auto rx2 = tx.subscribe({.stride = 2, .offset = 1});     // more consumers (any backing)
//   auto rx3 = que::spmc::consumer<Tick, 4096>::open(que::shm{"ticks"}, {.start = que::spmc::start_at::latest});
//   tx.push(t); tx.push(std::span{batch}); tx.flush();      // never wait
//   rx.try_pop(t);                  // bool: false only when nothing new (laps are skipped over)
//   rx.try_pop(std::span{out});     // count
//   rx.missed();                    // messages skipped because the producer lapped this consumer
//   auto r = rx.read(t);            // one step, each lap reported: r.status ok/empty/lapped, r.skipped
//   rx.pop(t); rx.pop_for(t, 5ms);  // wait while empty: que::status ok / timeout / closed / peer_dead / replaced
//   tx.close();                     // end of stream (the destructor closes too); rx.closed(), rx.replaced()
//   {.on_lap = que::spmc::lap_policy::latest}   // on a lap, jump to the newest message (default: oldest)
//
// Contract:
//  - One producer, any number of consumers, in any threads or processes
//    (backing que::shm). Each handle is move-only and not thread-safe; give
//    every consumer thread its own consumer handle (subscribe() or open()).
//    The producer role is claimed in shared memory (pid + start time, as for
//    spsc): a second producer fails with errc::role_taken while the first one's
//    process lives; a dead producer's role is taken over.
//  - The producer never waits: push() always succeeds and overwrites the
//    oldest message. Consumers never slow it down and never write shared
//    memory: a consumer's position is private to its handle, so there is no
//    limit on their number and a dead consumer costs nothing.
//  - A consumer never returns a torn or overwritten message: every message it
//    returns is exactly one the producer pushed, in push order. When the
//    producer laps it (overwrites messages it has not read yet), it skips
//    forward and counts the skipped messages in missed(). A consumer with
//    stride 1 that keeps reading until empty after the producer stopped has
//    received + missed() == messages pushed since its start position, exactly.
//    Where it lands is its options' lap_policy: oldest (default: the oldest
//    message still safely in the ring, least loss, a backlog of ~7/8 of the
//    ring to read) or latest (the newest complete message: freshest, most
//    loss).
//  - Ending: the producer's close() (or its destruction) ends the stream:
//    each consumer still reads what it can, then pop/pop_for/pop_until return
//    status::closed (try_pop just says empty; closed() says which). A
//    producer that opens the ring later reopens it. A consumer can ask
//    whether the name it opened still leads to its segment (replaced(): a
//    restarted producer with remove_on_close made a new segment), and a
//    waiting pop finds out by itself (status::replaced).
//  - Work splitting: a consumer with options {stride k, offset o} reads only
//    the indices o, o+k, o+2k, ...; k such consumers with offsets 0..k-1 see
//    (received or missed) every message exactly once between them, with no
//    coordination. Stride 1 is broadcast.
//  - Every hot-path call is noexcept, allocates nothing and makes no system
//    call (pop/pop_for/pop_until do once they have waited a while). Setup (make/open/subscribe) reports errors as std::error_code, by
//    exception or, with the std::error_code& overload, without.
//  - A message is visible to consumers once push() returned. The producer's
//    published write index (used only to place new consumers and to recover
//    from a lap) lags by at most publish_interval pushes; flush() publishes it
//    now.
//  - Waiting (pop, pop_for, pop_until): the producer's push never wakes
//    anyone (a wake-up would cost every push a load, and a system call while
//    someone sleeps), so a waiting consumer polls: it spins (cpu_relax) a
//    little, yields a few times, then (wait::sleep) sleeps in futex slices of
//    wait::poll_slice on producer_block::data_futex (which only close()
//    bumps: otherwise the slice is a timed sleep), probing between slices. An idle consumer costs ~no CPU;
//    a message is seen at most ~a slice after it was pushed. It still never
//    writes shared memory (its waiters count is private, since nobody reads
//    it). Every W::check_every it checks the producer's process (pid + start
//    time, from claim_role): dead, and nothing left to read ->
//    status::peer_dead; and the segment's name (replaced()). When it finds
//    the ring empty it also loads `closed` (acquire, after the producer's
//    flush and release): closed, and a second look still finds nothing ->
//    status::closed. Laps are skipped as by try_pop (counted in missed()).
//    The default strategy is wait::spin, as for every blocking call of que
//    (README, "Waiting"); wait::sleep trades up to ~a slice of latency for
//    an idle core.
//
// Protocol (a seqlock per slot; tests/model/spmc.pml checks it in Promela):
//   slot = { u64 seq; u64 payload[words]; padding }, words = ceil(sizeof(T) / 8),
//          slot_size = 16, 32 or 64 bytes, or whole 64-byte lines (detail::slot_size)
//   seq == 0         never written
//   seq == 2x + 1    the producer is writing message index x into this slot
//   seq == 2x + 2    the slot holds message x, complete
// Producer, push of index w into slot w & (N-1):
//   seq = 2w+1 (relaxed); copy the payload in (detail/copy.hpp: its fence
//   keeps the mark before every payload byte); seq = 2w+2 (release);
//   write = w+1 (release) every push for slots of a line or more
//   (read-behind), else every publish_interval pushes.
// Consumer wanting index r:
//   read-behind only: if r is not below the last write index it saw, it
//               re-reads write (acquire); still not below -> empty, without
//               touching the slot the producer is filling
//   q1 = seq (acquire)
//   q1 == 2r+2: copy the payload out into a local buffer (the copy's fence
//               keeps its loads before the re-read);
//               q2 = seq (relaxed): equal -> the copy is message r, intact;
//               different -> lapped (the producer started overwriting)
//   q1 <  2r+2: not written yet -> empty
//   q1 >  2r+2: the slot already holds a later lap -> lapped
//   lapped: newest = max(write, index proven by the seq value seen);
//           floor = newest - N + 1 + headroom           (lap_policy::oldest)
//                 | the newest complete index: walk on from newest while
//                   slots hold complete messages        (lap_policy::latest)
//           r' = smallest r' >= max(r + k, floor) with r' == o (mod k);
//           missed += (r' - r) / k.
// Close: producer: write = w (release, flush); closed = 1 (release).
//   A waiting consumer that finds nothing: c = closed (acquire); c == 1 ->
//   look once more (the acquire makes every message pushed before close
//   visible); still nothing -> status::closed.
// The payload copy must not be a C++ data race although a seqlock reader
// deliberately races the writer: detail/copy.hpp copies the bulk in inline
// assembly on x86-64 and aarch64 (outside the C++ abstract machine, with the
// fences each needs), and through std::atomic_ref<std::uint64_t> words
// elsewhere and under TSan (Boehm, "Can seqlocks get along with programming
// language memory models?", 2012).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <system_error>
#include <utility>

#include "backing/heap.hpp"
#include "backing/hugepages.hpp"
#include "backing/shm.hpp"
#include "detail/copy.hpp"
#include "detail/cpu.hpp"
#include "detail/describe.hpp"
#include "detail/element.hpp"
#include "detail/layout.hpp"
#include "detail/liveness.hpp"
#include "detail/mapping.hpp"
#include "detail/type_tag.hpp"
#include "detail/wait.hpp"
#include "wait.hpp"

namespace que::spmc {

template <element T, std::size_t N>
class producer;
template <element T, std::size_t N>
class consumer;

// Where a new consumer starts reading.
enum class start_at : std::uint8_t {
    // The oldest message the producer's published write index says is still in
    // the ring (index 0 on a fresh ring: such a consumer sees everything it is
    // not lapped on). If the producer already overwrote it, the first read
    // laps and counts the overwritten messages in missed().
    oldest,
    // The next message not yet complete when the consumer is created: it
    // receives only what is pushed from then on (and missed() counts nothing
    // from before).
    latest,
};

// Where a lapped consumer (the producer overwrote messages it had not read)
// goes on. Both count what they skip in missed(), so received + missed() ==
// pushed stays exact; they trade staleness against loss.
enum class lap_policy : std::uint8_t {
    // To the oldest message still safely in the ring: newest - N + 1 +
    // lap_headroom (N/8 headroom so the next push does not lap it again at
    // once). Loses the fewest messages, but then reads a backlog of about
    // 7/8 of the ring: until it catches up, what it returns is that many
    // messages old.
    oldest,
    // To the newest complete message (of its share: the next index of its
    // share from there). Returns the freshest data at once; skips nearly a
    // whole ring, so it misses the most. Finds the newest by walking the
    // slots past the published write index (at most a lap, usually a few).
    latest,
};

// A consumer's share of the stream: indices offset, offset+stride, ...
struct options {
    std::uint64_t stride = 1;  // >= 1; 1 = every message (broadcast)
    std::uint64_t offset = 0;  // < stride
    start_at start = start_at::oldest;
    lap_policy on_lap = lap_policy::oldest;
};

// What one consumer::read() did.
enum class read_status : std::uint8_t {
    ok,      // `out` holds the next message of this consumer
    empty,   // the next message is not written yet; `out` untouched
    lapped,  // the producer overwrote the next message(s): `skipped` were
             // skipped (and added to missed()); `out` untouched; read again
};

struct read_result {
    read_status status;
    std::uint64_t skipped;  // messages skipped by this call (non-zero only when lapped)

    explicit operator bool() const noexcept { return status == read_status::ok; }
};

namespace detail {

// u64 words of payload in a slot, and the slot's size: the sequence word,
// then the payload padded to whole words so every word access is aligned,
// then padding so that no slot straddles a 64-byte line it need not: up to
// 64 bytes a slot is a power of two (16, 32 or 64: it lies within one line),
// beyond that whole lines (1264 B of payload: 1280 B, 20 lines, where the
// unpadded 1272 B made every slot share its last line with the next slot's
// sequence word, which the producer writes while a consumer reads). Slots
// start 128-byte aligned (layout.hpp), so these sizes keep them on lines.
template <class T>
inline constexpr std::size_t payload_words = que::detail::copy::words_for(sizeof(T));
inline constexpr std::size_t slot_line = 64;
template <class T>
inline constexpr std::size_t slot_size = 8 + 8 * payload_words<T> <= slot_line
                                             ? std::bit_ceil(8 + 8 * payload_words<T>)
                                             : que::detail::round_up(8 + 8 * payload_words<T>, slot_line);

// Whether consumers read only below the producer's published write index
// (read behind the index, as the lossless ring does), which the producer
// then stores on every push. For slots of a line or more: a consumer that
// keeps up would otherwise poll the sequence word of the very slot the
// producer is filling, and that line would move between the cores several
// times per message (docs/benchmarks.md, headless ring). Smaller slots share
// lines anyway, and polling the slot's own sequence word (one line) is
// cheaper than the index plus the slot (two); they keep the published index
// for placement and laps only, stored every publish_interval pushes.
template <class T>
inline constexpr bool read_behind_index = slot_size<T> >= slot_line;

template <class T, std::size_t N>
constexpr que::detail::channel_spec spec() noexcept {
    return {que::detail::channel_kind::spmc, sizeof(T), alignof(T), N, type_tag_v<T>, slot_size<T>};
}

// How often the producer publishes its write index: at most every N/4 pushes
// (so the published value is always well within one lap of the truth, and a
// consumer placed from it starts inside the ring), at most every 16 (beyond
// that the saving is noise: one store to a line that consumers read only
// when they start or are lapped, so it normally stays in the producer's
// cache), at least every push for tiny rings.
template <std::size_t N>
inline constexpr std::uint64_t publish_interval = std::max<std::uint64_t>(1, std::min<std::uint64_t>(16, N / 4));
// What a producer of T uses: every push when consumers read behind the index.
template <class T, std::size_t N>
inline constexpr std::uint64_t publish_interval_for = read_behind_index<T> ? 1 : publish_interval<N>;

// How far past the oldest possibly-intact message a lapped consumer lands:
// N/8. The producer is by then at least at `newest` and still running, so
// landing exactly on the oldest slot means being lapped again by its very
// next push (and paying another trip to the producer's line); an eighth of
// the ring gives the consumer time to read a few messages first, while
// giving up only an eighth of what is left. 0 for N < 8 (must stay < N).
template <std::size_t N>
inline constexpr std::uint64_t lap_headroom = N / 8;

using word_ref = que::detail::copy::word_ref;
// The payload copy (detail/copy.hpp): inline asm on x86-64 and aarch64, the
// portable atomic_ref word copy under TSan and elsewhere.
using payload_copy = que::detail::copy::seqlock;

// Lets make()/subscribe() build handles without a public constructor.
struct access {
    template <class Handle, class... A>
    static Handle adopt(A&&... a) noexcept {
        return Handle(std::forward<A>(a)...);
    }
    template <class Handle>
    static bool join(Handle& h) noexcept {
        return h.join();
    }
};

// For the text of a setup error (detail/describe.hpp): the call and the options given.
template <class T, std::size_t N>
que::detail::setup_site site(const options& o, const char* handle, const char* call) noexcept {
    que::detail::setup_site s = que::detail::site_of<T, N>(handle, call, spec<T, N>(), "producer");
    s.stride = o.stride;
    s.offset = o.offset;
    return s;
}

inline std::error_code check(const options& o) noexcept {
    if (o.stride == 0 || o.offset >= o.stride) return errc::invalid_options;  // == std::errc::invalid_argument
    return {};
}

// What both handles share: the mapping and pointers into it. alignas: each
// handle owns whole 128-byte blocks, so handles held side by side (make()'s
// pair, a std::vector of consumers) never share a line (see spsc.hpp).
template <class T, std::size_t N>
class alignas(que::detail::cache_line) endpoint {
public:
    static_assert(que::detail::is_power_of_two(N), "que: capacity N must be a power of two");
    static_assert(que::detail::ring_fits(slot_size<T>, N),
                  "que: capacity N times the slot size exceeds que::detail::max_ring_bytes (2^47 bytes)");

    static constexpr std::size_t capacity() noexcept { return N; }

    // False for a moved-from or default-constructed handle, or one whose
    // error_code open failed.
    explicit operator bool() const noexcept { return slots_ != nullptr; }

    que::page_size page_size() const noexcept { return map_.pages; }
    bool fell_back() const noexcept { return map_.fell_back; }

    // True when the name this handle's segment was opened by (que::shm) no
    // longer leads to it: removed (shm_remove, a remove_on_close handle went
    // away) or re-created (a new segment under the name). A restarted
    // producer then writes elsewhere: reopen the name. False for unnamed
    // backings (heap, hugepages, memfd) and when it cannot tell. One
    // fstatat(2): a system call, not for the hot path.
    bool replaced() const noexcept {
        const que::detail::name_state s = que::detail::name_state_of(map_);
        return s == que::detail::name_state::removed || s == que::detail::name_state::replaced;
    }

    // A small block of the segment free for the application. Not synchronised by que.
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

    // A new consumer of this ring (the way to add consumers to a process-private
    // ring; with que::shm, consumer::open works too). Fails with
    // errc::invalid_options (== std::errc::invalid_argument) when stride == 0
    // or offset >= stride.
    // It only reads this handle's mapping and the shared indices, so another
    // thread may call it while this handle pushes or pops (not while it is
    // moved or destroyed): consumers can join a running stream.
    consumer<T, N> subscribe(const options& opt, std::error_code& ec) const noexcept {
        ec = check(opt);
        if (ec || !*this) {
            if (!ec) ec = std::make_error_code(std::errc::bad_file_descriptor);
            return {};
        }
        return access::adopt<consumer<T, N>>(map_, opt);
    }
    consumer<T, N> subscribe(const options& opt = {}) const {
        return que::detail::setup_or_throw(site<T, N>(opt, "que::spmc::subscribe", ""), que::detail::no_backing{},
                                           [&](std::error_code& ec) { return subscribe(opt, ec); });
    }

protected:
    static constexpr std::uint64_t mask = N - 1;

    endpoint() = default;
    explicit endpoint(que::detail::mapping m) noexcept
        : slots_(que::detail::slots_of(m.base)), prod_(que::detail::producer_of(m.base)), map_(std::move(m)) {}
    endpoint(endpoint&& o) noexcept
        : slots_(std::exchange(o.slots_, nullptr)), prod_(std::exchange(o.prod_, nullptr)),
          map_(std::exchange(o.map_, {})) {}
    endpoint& operator=(endpoint&& o) noexcept {
        slots_ = std::exchange(o.slots_, nullptr);
        prod_ = std::exchange(o.prod_, nullptr);
        map_ = std::exchange(o.map_, {});
        return *this;
    }
    ~endpoint() = default;

    std::byte* slot(std::uint64_t index) const noexcept { return slots_ + (index & mask) * slot_size<T>; }
    static word_ref seq_of(std::byte* s) noexcept { return word_ref(*reinterpret_cast<std::uint64_t*>(s)); }
    static std::byte* payload_of(std::byte* s) noexcept { return s + 8; }

    // Hot members first.
    std::byte* slots_ = nullptr;
    que::detail::producer_block* prod_ = nullptr;
    que::detail::mapping map_;
};

} // namespace detail

// The sending end. Only one producer may exist per ring at a time.
template <element T, std::size_t N>
class producer : public detail::endpoint<T, N> {
    using base = detail::endpoint<T, N>;
    using base::prod_;
    using base::payload_of;
    using base::seq_of;
    static constexpr std::uint64_t interval = detail::publish_interval_for<T, N>;

public:
    using value_type = T;
    static constexpr std::uint64_t publish_interval = interval;

    producer() = default;
    producer(producer&& o) noexcept
        : base(std::move(o)), write_(o.write_), published_(o.published_), self_(std::exchange(o.self_, 0)) {}
    producer& operator=(producer&& o) noexcept {
        if (this != &o) {
            leave();
            base::operator=(std::move(o));
            write_ = o.write_;
            published_ = o.published_;
            self_ = std::exchange(o.self_, 0);
        }
        return *this;
    }
    producer(const producer&) = delete;
    producer& operator=(const producer&) = delete;
    // Closes the stream (see close()) and gives up the producer role.
    ~producer() { leave(); }

    // Joins (or creates) the ring in `where` as its producer. One producer at
    // a time: while a live process holds the role, this fails with
    // errc::role_taken; a dead holder's role is taken over. Joining a ring
    // that holds messages (e.g. after the previous producer died) continues
    // after the newest message any slot holds, so indices stay unique.
    template <backing B>
    static producer open(const B& where) {
        return que::detail::setup_or_throw(
            que::detail::site_of<T, N>("que::spmc::producer", "open", detail::spec<T, N>(), "producer"), where,
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

    // Writes `value` as the next message, overwriting the oldest. Never waits.
    void push(const T& value) noexcept {
        write_one(value);
        if (write_ - published_ >= interval) publish();
    }

    // Writes `items` in order, then publishes the write index once (and every
    // publish_interval messages on the way, for long batches).
    void push(std::span<const T> items) noexcept {
        for (const T& v : items) {
            write_one(v);
            if (write_ - published_ >= interval) publish();
        }
        if (write_ != published_) publish();
    }

    // Publishes the write index now (push() does it every publish_interval).
    void flush() noexcept {
        if (self_ != 0 && write_ != published_) publish();
    }

    // Messages pushed so far: the index the next push gets.
    std::uint64_t pushed() const noexcept { return write_; }

    // Ends the stream: publishes the write index, then marks the ring closed
    // and wakes sleeping consumers. Each consumer still receives what it
    // would have (everything pushed before, less what it was lapped on),
    // then its pop/pop_for/pop_until return status::closed and closed() is
    // true. The destructor closes; a producer that opens the ring later
    // reopens the stream. Pushing after close() writes messages a consumer
    // that already saw status::closed may never read. Only the process that
    // took the role closes (a forked child's inherited copy does nothing).
    void close() noexcept {
        if (self_ == 0 || self_ != que::detail::self_pid()) return;
        flush();
        // release: every slot and the write index published above are
        // visible to a consumer whose acquire load sees 1, so its re-check
        // finds every message pushed before close. [pair:spmc_closed]
        // seq_cst (a release, plus its place in the total order): a consumer
        // that read data_futex before the bump below is woken or finds it
        // changed; one that read it after sees closed == 1 (detail/wait.hpp).
        prod_->closed.store(1, std::memory_order_seq_cst);
        que::detail::wake_all(prod_->data_futex);
    }

    // True once the stream is closed (by this producer, or left closed by a
    // predecessor and not reopened). False on a handle without a channel.
    bool closed() const noexcept {
        return prod_ != nullptr && prod_->closed.load(std::memory_order_relaxed) != 0;
    }

private:
    friend struct detail::access;

    explicit producer(que::detail::mapping m) noexcept : base(std::move(m)) {}

    // Takes the producer role (false: a live process holds it; then nothing
    // in shared memory has been written), then finds where to continue.
    bool join() noexcept {
        if (!que::detail::claim_role(prod_->pid, prod_->start_time)) {
            que::detail::keep_name(this->map_);  // a refused handle must not unlink the holder's channel
            return false;
        }
        self_ = que::detail::self_pid();
        // Continue after whatever the ring already holds. Acquire on write
        // (pairs with a previous producer's release) and on each seq: we are
        // about to overwrite those slots, so the previous writes to them must
        // be ordered before ours. A slot left odd by a producer that died
        // mid-write yields that index again (seq / 2): its consumers are still
        // waiting for it, and now get a complete message under it. Values come
        // from shared memory and may be garbage: they can only move the start
        // index, every slot access stays masked.
        std::uint64_t next = prod_->write.load(std::memory_order_acquire);
        for (std::uint64_t i = 0; i < N; ++i)
            next = std::max(next, seq_of(this->slot(i)).load(std::memory_order_acquire) / 2);
        write_ = published_ = next;
        if (next != prod_->write.load(std::memory_order_relaxed)) publish();
        // Reopens the stream a predecessor closed. relaxed suffices: a
        // consumer that still sees 1 reports closed only after finding
        // nothing to read (its acquire is on the predecessor's store,
        // [pair:spmc_closed]); one that sees 0 just keeps waiting.
        prod_->closed.store(0, std::memory_order_relaxed);
        return true;
    }

    // Publish what we pushed and give the role back; only in the process that
    // took it (a forked child's inherited copy must not touch the parent's).
    void leave() noexcept {
        if (self_ == 0) return;
        if (self_ == que::detail::self_pid()) {
            close();  // flushes first
            que::detail::release_role(prod_->pid, self_);
        }
        self_ = 0;
    }

    void write_one(const T& value) noexcept {
        std::byte* s = this->slot(write_);
        // relaxed: what orders this mark before the payload is the copy's
        // store->store fence (or, in the portable copy, the release on each
        // payload word; detail/copy.hpp). A consumer whose copy sees a new
        // byte therefore also sees this odd mark (or later) when it re-reads
        // seq, and drops the copy. Stores to one seq word are seen in the
        // order we made them (coherence), so no consumer sees this mark
        // before the previous message's even value.
        seq_of(s).store(2 * write_ + 1, std::memory_order_relaxed);
        detail::payload_copy::store<sizeof(T)>(payload_of(s), &value);
        // release: the payload is complete before any consumer can see 2w+2
        // (pairs with the consumer's acquire load of seq). [pair:spmc_slot]
        seq_of(s).store(2 * write_ + 2, std::memory_order_release);
        ++write_;
    }

    void publish() noexcept {
        // release: every slot below write_ is complete before a consumer that
        // read this value looks at them (pairs with the acquire in
        // consumer::jump, read_to's gate and the start-position code), so a
        // consumer placed from it never sees "empty" for a message below it.
        // [pair:spmc_write]
        prod_->write.store(write_, std::memory_order_release);
        published_ = write_;
    }

    std::uint64_t write_ = 0;      // private: index of the next push
    std::uint64_t published_ = 0;  // private: last value stored to prod_->write
    std::uint32_t self_ = 0;       // our pid while we hold the producer role, else 0
};

// A receiving end. Each consumer reads at its own pace with its own private
// position; use one handle per thread.
template <element T, std::size_t N>
class consumer : public detail::endpoint<T, N> {
    using base = detail::endpoint<T, N>;
    using base::prod_;
    using base::payload_of;
    using base::seq_of;
    static constexpr std::size_t words = detail::payload_words<T>;
    static constexpr bool read_behind = detail::read_behind_index<T>;

public:
    using value_type = T;
    static constexpr std::uint64_t lap_headroom = detail::lap_headroom<N>;

    consumer() = default;
    consumer(consumer&& o) noexcept
        : base(std::move(o)),
          next_(o.next_),
          cached_write_(o.cached_write_),
          stride_(o.stride_),
          offset_(o.offset_),
          missed_(o.missed_),
          on_lap_(o.on_lap_) {}
    consumer& operator=(consumer&& o) noexcept {
        if (this != &o) {
            base::operator=(std::move(o));
            next_ = o.next_;
            cached_write_ = o.cached_write_;
            stride_ = o.stride_;
            offset_ = o.offset_;
            missed_ = o.missed_;
            on_lap_ = o.on_lap_;
        }
        return *this;
    }
    consumer(const consumer&) = delete;
    consumer& operator=(const consumer&) = delete;

    // Joins (or creates) the ring in `where` as a consumer with `opt`. Invalid
    // options (stride 0, offset >= stride) fail with errc::invalid_options
    // (== std::errc::invalid_argument).
    template <backing B>
    static consumer open(const B& where, const options& opt = {}) {
        return que::detail::setup_or_throw(detail::site<T, N>(opt, "que::spmc::consumer", "open"), where,
                                           [&](std::error_code& ec) { return open(where, opt, ec); });
    }
    template <backing B>
    static consumer open(const B& where, std::error_code& ec) {
        return open(where, options{}, ec);
    }
    template <backing B>
    static consumer open(const B& where, const options& opt, std::error_code& ec) {
        ec = detail::check(opt);
        if (ec) return {};
        // Read-only where the backing can (que::shm, que::memfd): a consumer writes no shared memory.
        que::detail::mapping m = que::detail::attach_read_only(where, detail::spec<T, N>(), ec);
        if (ec) return {};
        return consumer(std::move(m), opt);
    }

    // One step, reporting what happened (see read_status). A lap is reported
    // by itself: the consumer has moved on, read() again for the message.
    read_result read(T& out) noexcept { return read_to(&out); }

    // The next message of this consumer into `out`; false (and `out`
    // untouched) when there is none yet. Laps are skipped over (and counted
    // in missed()); it returns false only for "empty".
    //
    // A call gives up (returns false, as if empty) after max_laps_per_call
    // laps in a row, so a corrupt segment (seq words claiming ever later
    // messages) cannot keep it spinning; a genuine producer cannot lap a
    // consumer that often within one call. Call again.
    bool try_pop(T& out) noexcept {
        for (std::uint64_t laps = 0; laps < max_laps_per_call; ++laps) {
            const read_result r = read_to(&out);
            if (r.status != read_status::lapped) return r.status == read_status::ok;
        }
        return false;
    }

    std::optional<T> try_pop() noexcept {
        // Through bytes, so T need not be default-constructible.
        std::array<unsigned char, sizeof(T)> raw;
        for (std::uint64_t laps = 0; laps < max_laps_per_call; ++laps) {
            const read_result r = read_to(raw.data());
            if (r.status == read_status::ok) return std::bit_cast<T>(raw);
            if (r.status == read_status::empty) return std::nullopt;
        }
        return std::nullopt;
    }

    // Up to out.size() messages, in order (laps skipped over and counted);
    // returns how many were written to the front of `out`.
    std::size_t try_pop(std::span<T> out) noexcept {
        std::size_t n = 0;
        while (n < out.size() && try_pop(out[n])) ++n;
        return n;
    }

    // The next message of this consumer into `out`, waiting while there is
    // none (see "Waiting" above), `out` untouched unless status::ok:
    //  - status::ok: a message;
    //  - status::closed: the producer closed the stream (close() or its
    //    destruction) and this consumer has read everything it could;
    //  - status::peer_dead: the producer's process died without closing,
    //    and nothing is left to read;
    //  - status::replaced (found at a liveness check, every W::check_every):
    //    nothing is left to read and the segment's name leads elsewhere (see
    //    replaced()): another segment is at the name, or nothing is and no
    //    producer holds this ring, so none can ever join it. A ring whose
    //    name was removed while its producer lives (unlink after attach)
    //    keeps being waited on.
    // W: how to wait; wait::spin by default, as for every blocking call of
    // que (que/wait.hpp: spin, then yield; the lowest latency, a busy core),
    // or wait::sleep (spin, yield, then sleep in slices of wait::poll_slice:
    // ~no CPU, up to ~a slice late). The handle must be valid (as for try_pop).
    template <wait_policy W = wait::spin>
    status pop(T& out) noexcept {
        return pop_until<W>(out, std::chrono::steady_clock::time_point::max());
    }

    // As pop(), giving up with status::timeout after `d` (d <= 0: one try).
    template <wait_policy W = wait::spin, class Rep, class Period>
    status pop_for(T& out, const std::chrono::duration<Rep, Period>& d) noexcept {
        return pop_until<W>(out, que::detail::deadline_after(d));
    }

    // As pop(), giving up with status::timeout at `deadline`.
    template <wait_policy W = wait::spin>
    status pop_until(T& out, std::chrono::steady_clock::time_point deadline) noexcept {
        if (try_pop(out)) return status::ok;  // the common case: no clock read, no set-up
        // Nobody reads this count (an spmc producer never wakes sleepers), so
        // it is kept here rather than in data_waiters: a consumer writes no
        // shared memory even while it sleeps, and one killed asleep leaves
        // nothing behind. peer_wakes is 0 likewise, so a sleep lasts at most
        // wait::poll_slice (close() bumps the futex, ending it at once).
        std::atomic<std::uint32_t> private_waiters{0};
        const std::atomic<std::uint32_t> no_wakes{0};
        que::detail::wait_site site{&prod_->data_futex, &private_waiters, nullptr,
                                    &prod_->pid,        &prod_->start_time, &no_wakes};
        site.segment_check = &consumer::name_gone;
        site.segment_check_arg = this;
        // The probe ignores the order it is given: the seq_cst re-check only
        // matters against a producer that wakes sleepers, and ours polls.
        // try_pop's acquire loads are what orders the message we return.
        return que::detail::wait_until<W>(
            site,
            [&](std::memory_order) noexcept {
                if (try_pop(out)) return status::ok;
                return ended() ? (try_pop(out) ? status::ok : status::closed) : que::detail::pending;
            },
            deadline);
    }

    // True once the producer closed the stream (and no producer reopened
    // it). Messages may still be waiting: the stream has ended for this
    // consumer when closed() is true and a try_pop *after* it finds nothing
    // (in that order: a message pushed just before close may arrive between
    // an earlier empty try_pop and close). False on a handle without a channel.
    bool closed() const noexcept { return prod_ != nullptr && ended(); }

    // Messages of this consumer's share skipped because the producer lapped it.
    std::uint64_t missed() const noexcept { return missed_; }
    // The index this consumer reads next (== offset mod stride). Its private
    // position: nothing in shared memory records it.
    std::uint64_t next_index() const noexcept { return next_; }
    std::uint64_t stride() const noexcept { return stride_; }
    std::uint64_t offset() const noexcept { return offset_; }
    lap_policy on_lap() const noexcept { return on_lap_; }

private:
    friend struct detail::access;

    // acquire: pairs with the producer's release in close() [pair:spmc_closed]:
    // having seen 1, a following try_pop sees every message (seq words, and
    // the write index read-behind consumers gate on) pushed before close.
    bool ended() const noexcept { return prod_->closed.load(std::memory_order_acquire) != 0; }

    // wait_site::segment_check: status::replaced when the name leads
    // elsewhere (see pop()). Runs once per W::check_every while waiting.
    static status name_gone(const void* self) noexcept {
        const consumer& c = *static_cast<const consumer*>(self);
        switch (que::detail::name_state_of(c.map_)) {
        case que::detail::name_state::replaced: return status::replaced;
        case que::detail::name_state::removed:
            // relaxed: a hint; a producer that is joining now makes the
            // next check (or a message) end the wait anyway.
            return c.prod_->pid.load(std::memory_order_relaxed) == 0 ? status::replaced : que::detail::pending;
        default: return que::detail::pending;
        }
    }

    read_result read_to(void* out) noexcept {
        if constexpr (read_behind) {
            // Read behind the published index: never look at the slot the
            // producer is filling (detail::read_behind_index). Only "nothing
            // published past next_" gates; any other value, sane or not, goes
            // on to the slot, whose seq word decides (a lap, or a corrupt
            // index, is handled there exactly as without the gate).
            if (cached_write_ == next_ || static_cast<std::int64_t>(cached_write_ - next_) < 0) {
                // acquire: pairs with the producer's release in publish()
                // [pair:spmc_write]; the slots below it are complete (their
                // even seq values are visible to our acquire load below).
                cached_write_ = prod_->write.load(std::memory_order_acquire);
                if (cached_write_ == next_ || static_cast<std::int64_t>(cached_write_ - next_) < 0)
                    return {read_status::empty, 0};
            }
        }
        std::byte* s = this->slot(next_);
        const std::uint64_t want = 2 * next_ + 2;
        // acquire: pairs with the producer's release store of 2r+2, so the
        // payload of message r is visible to the copy below. [pair:spmc_slot]
        const std::uint64_t q1 = seq_of(s).load(std::memory_order_acquire);
        if (q1 == want) {
            // The copy orders its loads after q1 (the acquire above) and
            // before the re-read of seq (its own fence, or acquire on each
            // word in the portable copy): if it saw any byte of a later
            // message, the re-read sees that message's odd mark (or later)
            // and we drop the copy (detail/copy.hpp).
            std::uint64_t buf[words];
            detail::payload_copy::load<sizeof(T)>(buf, payload_of(s));
            // relaxed: ordered after the copy (above); all it must show is
            // whether the producer touched the slot meanwhile.
            const std::uint64_t q2 = seq_of(s).load(std::memory_order_relaxed);
            if (q2 == q1) {
                // Only now form a T, from a buffer known to be message r.
                std::memcpy(out, buf, sizeof(T));
                next_ += stride_;
                return {read_status::ok, 0};
            }
            return {read_status::lapped, jump(q2)};
        }
        if (q1 < want) return {read_status::empty, 0};  // 0, an older lap, or 2r+1 (being written)
        return {read_status::lapped, jump(q1)};
    }

    consumer(que::detail::mapping m, const options& opt) noexcept
        : base(std::move(m)), stride_(opt.stride), offset_(opt.offset), on_lap_(opt.on_lap) {
        // acquire: pairs with the producer's release in publish(): every
        // message below w is complete and visible to our seq loads.
        const std::uint64_t w = prod_->write.load(std::memory_order_acquire);
        cached_write_ = w;
        std::uint64_t r = 0;
        if (opt.start == start_at::oldest) {
            r = w > N ? w - N : 0;
        } else {
            // "latest" means "not complete yet" exactly.
            r = first_incomplete(w);
        }
        next_ = round_to_share(r);
    }

    // The first index from `r` on whose message is not complete yet: `r`
    // comes from the published write index, which lags the producer by up to
    // publish_interval pushes, so walk the slots past it that already hold
    // complete messages (at most one lap). A slot's word is believed only
    // within a lap of where we are (a corrupt one must not fling us far).
    std::uint64_t first_incomplete(std::uint64_t r) const noexcept {
        for (std::uint64_t i = 0; i < N; ++i) {
            // acquire: pairs with the producer's release of 2x+2 [pair:spmc_slot].
            const std::uint64_t q = seq_of(this->slot(r)).load(std::memory_order_acquire);
            if (q < 2 * r + 2 || q / 2 - r > N) break;
            r = std::max(r + 1, q / 2);  // q / 2: one past the index the slot holds
        }
        return r;
    }

    // The smallest index >= r in this consumer's share (== offset mod stride).
    // Indices near 2^64 come only from a corrupt segment (a genuine one never
    // gets there), but 2^64 is no multiple of most strides: where rounding up
    // would wrap, round down instead, so the index stays in this share.
    std::uint64_t round_to_share(std::uint64_t r) const noexcept {
        const std::uint64_t m = r % stride_;
        const std::uint64_t up = r + (offset_ + stride_ - m) % stride_;
        return up >= r ? up : r - (m + stride_ - offset_) % stride_;
    }

    // Lapped at next_ after seeing seq value `q` (> 2*next_+2, or the changed
    // re-read): move past what is surely overwritten, count what we skip.
    std::uint64_t jump(std::uint64_t q) noexcept {
        // acquire: pairs with publish(); everything below w is then visible,
        // so if we land below w the landing message reads as available, not
        // as a spurious "empty".
        const std::uint64_t w = prod_->write.load(std::memory_order_acquire);
        // q is odd (2x+1, x being written) or even (2x+2, x complete): either
        // way the producer has reached x = (q - 1) / 2, so every index up to
        // x - N is gone. The published w may be older or newer; take the newer.
        // (w itself may already be being written, hence newest = w, not w-1.)
        // The seq word comes from the producer's process: believe the index it
        // proves only within a lap of the published one (push publishes at
        // least every publish_interval, so a genuine one is never further
        // ahead). A corrupt word must not fling us 2^63 messages forward.
        const std::uint64_t proven = q > 0 ? (q - 1) / 2 : 0;
        const std::uint64_t newest = (proven > w && proven - w <= N) ? proven : w;
        std::uint64_t floor = 0;
        if (on_lap_ == lap_policy::oldest) {
            constexpr std::uint64_t back = N - 1 - lap_headroom;  // newest - back: landing index
            floor = newest > back ? newest - back : 0;
        } else {
            // The newest complete message: the one before the first that is
            // not complete, walking on from `newest` (w may lag).
            const std::uint64_t head = first_incomplete(newest);
            floor = head > 0 ? head - 1 : 0;
        }
        const std::uint64_t target = round_to_share(std::max(next_ + stride_, floor));
        const std::uint64_t skipped = (target - next_) / stride_;
        missed_ += skipped;
        next_ = target;
        return skipped;
    }

    static constexpr std::uint64_t max_laps_per_call = N + 1;

    std::uint64_t next_ = 0;          // private: next index to read
    std::uint64_t cached_write_ = 0;  // private: last published write index seen (read_behind only)
    std::uint64_t stride_ = 1;
    std::uint64_t offset_ = 0;
    std::uint64_t missed_ = 0;
    lap_policy on_lap_ = lap_policy::oldest;
};

// Creates a ring in `where` (process-private by default) and returns its
// producer and a first consumer (options `opt`); add more consumers with
// subscribe(). With que::shm this creates or joins by name, like open().
template <element T, std::size_t N, backing B = heap>
std::pair<producer<T, N>, consumer<T, N>> make(const B& where, const options& opt, std::error_code& ec) {
    ec = detail::check(opt);
    if (ec) return {};
    que::detail::mapping m = where.attach(detail::spec<T, N>(), ec);
    if (ec) return {};
    que::detail::mapping copy = m;  // both handles own the memory
    // The producer first: a ring joined with make() may hold messages, and the
    // consumer's start position is computed from what the producer published.
    producer<T, N> tx = detail::access::adopt<producer<T, N>>(std::move(m));
    if (!detail::access::join(tx)) {
        ec = errc::role_taken;
        return {};
    }
    consumer<T, N> rx = detail::access::adopt<consumer<T, N>>(std::move(copy), opt);
    return {std::move(tx), std::move(rx)};
}

template <element T, std::size_t N, backing B = heap>
std::pair<producer<T, N>, consumer<T, N>> make(const B& where, std::error_code& ec) {
    return make<T, N>(where, options{}, ec);
}

template <element T, std::size_t N, backing B = heap>
std::pair<producer<T, N>, consumer<T, N>> make(const B& where = {}, const options& opt = {}) {
    return que::detail::setup_or_throw(detail::site<T, N>(opt, "que::spmc::make", ""), where,
                                       [&](std::error_code& ec) { return make<T, N>(where, opt, ec); });
}

} // namespace que::spmc
