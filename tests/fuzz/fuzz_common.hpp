// tests/fuzz/fuzz_common.hpp — what the fuzz targets share: the element type,
// a backing over a byte buffer, and checks on the handles' hot-path calls.
//
// A shared segment is a trust boundary: any process that can open the name
// can write any bytes into it, before we join or while we run. The targets
// here hand arbitrary bytes to the join path and then drive the hot path on
// whatever indices the bytes hold; AddressSanitizer (every slot access lands
// in an exactly-sized heap buffer) and the explicit checks below turn any
// out-of-bounds access or broken invariant into a crash the fuzzer reports.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <system_error>
#include <type_traits>

#include <que/spmc.hpp>
#include <que/spsc.hpp>

namespace que_fuzz {

// 16 bytes: not a power of two multiple of the slot alignment games the
// layout plays, small enough that a whole segment (896 + 8 * 16 rounded up to
// 128 = 1024 bytes) fits in a short fuzz input.
struct msg {
    std::uint32_t a;
    std::uint32_t b;
    std::uint64_t c;
};
inline constexpr std::size_t capacity = 8;

} // namespace que_fuzz

// A fixed tag, not the compiler-derived default: the committed corpus is
// generated once and must validate under g++ and clang++ alike.
template <>
struct que::type_tag<que_fuzz::msg> : std::integral_constant<std::uint64_t, 0x7175655f66757a7aull> {};

namespace que_fuzz {

using producer = que::spsc::producer<msg, capacity>;
using consumer = que::spsc::consumer<msg, capacity>;
using spmc_producer = que::spmc::producer<msg, capacity>;
using spmc_consumer = que::spmc::consumer<msg, capacity>;

inline const que::detail::channel_spec& spsc_spec() {
    static const que::detail::channel_spec s{que::detail::channel_kind::spsc, sizeof(msg), alignof(msg),
                                             capacity, que::type_tag_v<msg>, sizeof(msg)};
    return s;
}
inline const que::detail::channel_spec& spmc_spec() {
    static const que::detail::channel_spec s{que::detail::channel_kind::spmc, sizeof(msg), alignof(msg), capacity,
                                             que::type_tag_v<msg>, que::spmc::detail::slot_size<msg>};
    return s;
}

// Stops the process the way a fuzzer understands: abort() with a message.
[[noreturn]] inline void fail(const char* what, std::uint64_t a = 0, std::uint64_t b = 0) {
    std::fprintf(stderr, "que fuzz check failed: %s (%llu, %llu)\n", what, static_cast<unsigned long long>(a),
                 static_cast<unsigned long long>(b));
    std::abort();
}
#define QUE_FUZZ_CHECK(cond, ...) \
    do {                          \
        if (!(cond)) ::que_fuzz::fail(#cond __VA_OPT__(, ) __VA_ARGS__); \
    } while (false)

// A 128-byte aligned heap buffer of exactly `bytes` bytes: ASan poisons what
// lies past it, so a slot index that escapes its bounds is caught on the
// first byte, not only past a page boundary as with mmap.
struct buffer {
    explicit buffer(std::size_t n) : bytes(n) {
        base = ::operator new(n == 0 ? 1 : n, std::align_val_t{que::detail::cache_line});
    }
    ~buffer() { ::operator delete(base, std::align_val_t{que::detail::cache_line}); }
    buffer(const buffer&) = delete;
    buffer& operator=(const buffer&) = delete;
    void* base;
    std::size_t bytes;
};

// A backing over bytes someone else wrote: the join half of what a shared
// backing does (state must be ready, then detail::validate), without a file.
// It never initialises: the fuzzer owns the contents.
struct bytes_backing {
    buffer* buf;
    que::detail::mapping attach(const que::detail::channel_spec& spec, std::error_code& ec) const {
        ec = que::detail::validate(buf->base, buf->bytes, spec);
        if (ec) return {};
        const auto* h = que::detail::header_of(buf->base);
        if (h->state.load(std::memory_order_acquire) != static_cast<std::uint32_t>(que::detail::init_state::ready)) {
            ec = que::errc::not_ready;
            return {};
        }
        // Not owned: the buffer outlives the handles.
        return {buf->base, buf->bytes, que::page_size::standard, false, false, std::shared_ptr<void>()};
    }
};

// Touches every element of a span the channel handed out, so ASan sees an
// out-of-bounds span even when nobody would have read its tail.
template <class T>
inline std::uint64_t touch(std::span<T> s) {
    std::uint64_t sum = 0;
    for (auto& m : s) {
        msg copy;
        std::memcpy(&copy, &m, sizeof copy);
        sum += copy.a + copy.c;
        if constexpr (!std::is_const_v<T>) std::memcpy(&m, &copy, sizeof copy);
    }
    return sum;
}

// A short, fixed workout of a joined consumer over indices nobody vouches for.
inline void exercise(consumer& rx) {
    msg m{};
    std::size_t popped = 0;
    for (int i = 0; i < 3; ++i) popped += rx.try_pop(m) ? 1u : 0u;
    auto r = rx.peek();
    QUE_FUZZ_CHECK(r.size() <= capacity, r.size());
    touch(r);
    rx.release(r.size() / 2 + 1);
    msg out[capacity + 3];
    const std::size_t n = rx.try_pop(std::span<msg>(out));
    QUE_FUZZ_CHECK(n <= capacity, n);
    QUE_FUZZ_CHECK(rx.size() <= capacity, rx.size());
    (void)rx.try_pop();
    (void)rx.empty();
    (void)popped;
}

// The same for a producer.
inline void exercise(producer& tx) {
    msg m{1, 2, 3};
    for (int i = 0; i < 3; ++i) (void)tx.try_push(m);
    auto w = tx.claim(capacity + 1);
    QUE_FUZZ_CHECK(w.size() <= capacity, w.size());
    touch(w);
    tx.commit(w.size());
    msg in[capacity + 3] = {};
    const std::size_t n = tx.try_push(std::span<const msg>(in));
    QUE_FUZZ_CHECK(n <= capacity, n);
    QUE_FUZZ_CHECK(tx.size() <= capacity, tx.size());
    (void)tx.full();
}

// An spmc consumer over hostile sequence words: each call must return (no
// unbounded skipping), and read() must make progress or say empty.
inline void exercise(spmc_consumer& rx) {
    msg m{};
    for (int i = 0; i < 4; ++i) {
        const std::uint64_t before = rx.next_index();
        const que::spmc::read_result r = rx.read(m);
        if (r.status == que::spmc::read_status::empty) QUE_FUZZ_CHECK(rx.next_index() == before);
        else QUE_FUZZ_CHECK(rx.next_index() != before, before);  // ok or lapped: moved on
        QUE_FUZZ_CHECK(rx.next_index() % rx.stride() == rx.offset(), rx.next_index(), rx.stride());
    }
    // try_pop retries while lapped; it must still return on hostile sequence
    // words (tests/fuzz/findings/spmc-try-pop-hang: one slot at 2^64-1 once
    // made every retry "lapped" by one index, forever).
    for (int i = 0; i < 4; ++i) (void)rx.try_pop(m);
    msg out[capacity + 3];
    QUE_FUZZ_CHECK(rx.try_pop(std::span<msg>(out)) <= capacity + 3);
    (void)rx.try_pop();
}

inline void exercise(spmc_producer& tx) {
    const std::uint64_t before = tx.pushed();
    for (std::uint32_t i = 0; i < 3; ++i) tx.push(msg{i, ~i, before + i});
    msg in[capacity + 3] = {};
    tx.push(std::span<const msg>(in));
    QUE_FUZZ_CHECK(tx.pushed() == before + 3 + capacity + 3, tx.pushed(), before);
    tx.flush();
}

} // namespace que_fuzz
