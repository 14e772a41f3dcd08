// tests/fuzz/fuzz_ops.cpp — structure-aware fuzz target: a valid segment with
// fuzzer-chosen header fields and indices, then a fuzzer-chosen sequence of
// hot-path calls and peer writes.
//
// Raw bytes rarely get past the magic check; here the input is read as
// decisions instead: which header fields to overwrite and with what, where
// the two indices start, how long the mapping is, and then a program of
// push/pop/claim/peek calls interleaved with a hostile peer overwriting the
// shared indices and the producer restarting. While no peer write happened
// and the join-time indices were sane, a model checks the channel exactly:
// FIFO, nothing lost or duplicated, success of every try_* as predicted.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>

#include "fuzz_common.hpp"

namespace {

// Consumes the input front to back; past its end every read yields zero.
struct reader {
    const std::uint8_t* p;
    std::size_t n;
    bool empty() const { return n == 0; }
    std::uint8_t u8() {
        if (n == 0) return 0;
        --n;
        return *p++;
    }
    std::uint64_t u64() {
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(u8()) << (8 * i);
        return v;
    }
    // An index or field value: mostly the edge cases, sometimes raw bytes.
    std::uint64_t value(std::uint64_t near) {
        const std::uint64_t N = que_fuzz::capacity;
        switch (u8() % 12) {
        case 0: return 0;
        case 1: return near;
        case 2: return near + u8() % (2 * N + 2);
        case 3: return near - u8() % (2 * N + 2);
        case 4: return N;
        case 5: return N + 1;
        case 6: return ~std::uint64_t{0};
        case 7: return ~std::uint64_t{0} - N + 1;
        case 8: return std::uint64_t{1} << 63;
        case 9: return (std::uint64_t{1} << 63) - u8() % (N + 1);
        case 10: return u8();
        default: return u64();
        }
    }
};

struct model {
    bool exact = true;            // false once a peer scribbled or indices were insane at join
    std::uint64_t unknown = 0;    // messages in the ring at join time, contents unknown
    std::deque<que_fuzz::msg> q;  // messages pushed since
    std::uint64_t next = 0;

    std::uint64_t size() const { return unknown + q.size(); }
    que_fuzz::msg make() {
        const std::uint64_t s = next++;
        return {static_cast<std::uint32_t>(s * 2654435761u), static_cast<std::uint32_t>(~s), s};
    }
    void popped(const que_fuzz::msg& m) {
        if (!exact) return;
        QUE_FUZZ_CHECK(size() > 0);
        if (unknown > 0) {
            --unknown;
            return;
        }
        const que_fuzz::msg& want = q.front();
        QUE_FUZZ_CHECK(std::memcmp(&want, &m, sizeof m) == 0, want.c, m.c);
        q.pop_front();
    }
};

void run(reader& in) {
    using namespace que::detail;
    using que_fuzz::capacity;
    const channel_spec& spec = que_fuzz::spsc_spec();

    // Mapping length: usually exact, sometimes short or long.
    std::size_t bytes = static_cast<std::size_t>(spec.segment_size());
    switch (in.u8() % 8) {
    case 0: bytes -= 1u + in.u8() % 128u; break;
    case 1: bytes = in.u8() * 8u; break;
    case 2: bytes += in.u8(); break;
    default: break;
    }
    que_fuzz::buffer buf(bytes);
    {
        que_fuzz::buffer full(static_cast<std::size_t>(spec.segment_size()));
        std::memset(full.base, 0, full.bytes);
        initialize(full.base, spec, 4096, 1);
        std::memset(buf.base, 0, bytes);
        std::memcpy(buf.base, full.base, std::min(bytes, full.bytes));
    }
    auto* raw = static_cast<std::uint8_t*>(buf.base);

    // Header fields, by offset (see layout.hpp's static_asserts).
    static constexpr std::size_t field_offsets[] = {0, 8, 12, 16, 24, 32, 40, 48, 56, 64, 72, 80, 84, 88};
    static constexpr std::size_t field_sizes[] = {8, 4, 4, 8, 8, 8, 8, 8, 8, 8, 8, 4, 4, 8};
    const unsigned edits = in.u8() % 4;
    for (unsigned i = 0; i < edits; ++i) {
        const unsigned f = in.u8() % 14;
        if (field_offsets[f] + field_sizes[f] > bytes) continue;
        std::uint64_t old = 0;
        std::memcpy(&old, raw + field_offsets[f], field_sizes[f]);
        const std::uint64_t v = in.value(old);
        std::memcpy(raw + field_offsets[f], &v, field_sizes[f]);
    }

    // Indices as a previous producer and consumer left them.
    std::uint64_t w = 0, r = 0;
    if (bytes >= slots_offset) {
        r = in.value(0);
        w = in.value(r);
        producer_of(buf.base)->write.store(w, std::memory_order_relaxed);
        consumer_of(buf.base)->read.store(r, std::memory_order_relaxed);
        // Leftover slot contents: whatever bytes follow.
        for (std::size_t i = slots_offset; i < bytes && !in.empty() && (in.u8() & 1); ++i) raw[i] = in.u8();
    }

    std::error_code ec;
    const que_fuzz::bytes_backing where{&buf};
    auto rx = que_fuzz::consumer::open(where, ec);
    if (ec) {
        QUE_FUZZ_CHECK(ec.category() == que::error_category());
        return;
    }
    auto tx = que_fuzz::producer::open(where, ec);
    QUE_FUZZ_CHECK(!ec, static_cast<std::uint64_t>(ec.value()));  // same segment, same spec

    model m;
    m.exact = (w - r) <= capacity;
    m.unknown = w - r;

    // Single pops hand slots back to the producer in groups of
    // min(64, capacity/4) (spsc.hpp): `held` is how many the producer cannot
    // see yet, read off its own size(), and must stay under the group size.
    constexpr std::uint64_t group = std::clamp<std::uint64_t>(capacity / 4, 1, 64);
    que_fuzz::msg batch[capacity + 2];
    for (int step = 0; step < 256 && !in.empty(); ++step) {
        const std::uint64_t held = m.exact ? tx.size() - m.size() : 0;
        if (m.exact) QUE_FUZZ_CHECK(held < group, held, m.size());
        const std::uint8_t op = in.u8();
        const std::size_t k = op >> 4;  // 0..15, past capacity on purpose
        switch (op % 10) {
        case 0: {  // try_push
            const que_fuzz::msg v = m.make();
            const bool ok = tx.try_push(v);
            if (m.exact) {
                QUE_FUZZ_CHECK(ok == (m.size() + held < capacity), m.size(), held);
                if (ok) m.q.push_back(v);
            }
            break;
        }
        case 1: {  // batch try_push
            const std::size_t want = std::min<std::size_t>(k, capacity + 2);
            const std::uint64_t first = m.next;
            for (std::size_t i = 0; i < want; ++i) batch[i] = m.make();
            const std::size_t got = tx.try_push(std::span<const que_fuzz::msg>(batch, want));
            QUE_FUZZ_CHECK(got <= want && got <= capacity, got, want);
            if (m.exact) {
                QUE_FUZZ_CHECK(got == std::min<std::uint64_t>(want, capacity - m.size() - held), got, m.size());
                for (std::size_t i = 0; i < got; ++i) m.q.push_back(batch[i]);
            }
            m.next = first + got;  // unsent ones are made again
            break;
        }
        case 2: {  // claim + commit a prefix
            auto span = tx.claim(k);
            QUE_FUZZ_CHECK(span.size() <= k && span.size() <= capacity, span.size(), k);
            if (m.exact) QUE_FUZZ_CHECK(span.size() <= capacity - m.size() - held, span.size(), m.size());
            const std::size_t use = span.empty() ? 0 : in.u8() % (span.size() + 1);
            for (std::size_t i = 0; i < span.size(); ++i) {
                const que_fuzz::msg v = i < use ? m.make() : que_fuzz::msg{0xdead, 0xbeef, 0};
                std::memcpy(&span[i], &v, sizeof v);
                if (i < use && m.exact) m.q.push_back(v);
            }
            tx.commit(use);
            break;
        }
        case 3: {  // try_pop
            que_fuzz::msg v{};
            const bool ok = rx.try_pop(v);
            if (m.exact) QUE_FUZZ_CHECK(ok == (m.size() > 0), m.size());
            if (ok) m.popped(v);
            break;
        }
        case 4: {  // batch try_pop
            const std::size_t want = std::min<std::size_t>(k, capacity + 2);
            const std::size_t got = rx.try_pop(std::span<que_fuzz::msg>(batch, want));
            QUE_FUZZ_CHECK(got <= want && got <= capacity, got, want);
            if (m.exact) QUE_FUZZ_CHECK(got == std::min<std::uint64_t>(want, m.size()), got, m.size());
            for (std::size_t i = 0; i < got; ++i) m.popped(batch[i]);
            if (m.exact && got > 0) QUE_FUZZ_CHECK(tx.size() == m.size(), tx.size(), m.size());  // batch: all returned
            break;
        }
        case 5: {  // peek + release
            auto span = rx.peek();
            QUE_FUZZ_CHECK(span.size() <= capacity, span.size());
            if (m.exact) QUE_FUZZ_CHECK(span.size() <= m.size() && (m.size() == 0) == span.empty(), span.size());
            que_fuzz::touch(span);
            const std::size_t rel = std::min(k, span.size());
            for (std::size_t i = 0; i < rel; ++i) m.popped(span[i]);
            rx.release(rel);
            if (m.exact && rel > 0) QUE_FUZZ_CHECK(tx.size() == m.size(), tx.size(), m.size());
            break;
        }
        case 6:  // a hostile or broken peer rewrites the producer's index
            producer_of(buf.base)->write.store(in.value(producer_of(buf.base)->write.load()));
            m.exact = false;
            break;
        case 7:  // ... or the consumer's
            consumer_of(buf.base)->read.store(in.value(consumer_of(buf.base)->read.load()));
            m.exact = false;
            break;
        case 8: {  // the producer process restarts: a new handle joins the live ring
            tx = {};  // gives the role back first, or the join is refused (role_taken)
            tx = que_fuzz::producer::open(where, ec);
            QUE_FUZZ_CHECK(!ec);
            break;
        }
        default: {  // the consumer restarts
            rx = {};
            rx = que_fuzz::consumer::open(where, ec);
            QUE_FUZZ_CHECK(!ec);
            break;
        }
        }
        QUE_FUZZ_CHECK(rx.size() <= capacity && tx.size() <= capacity, rx.size(), tx.size());
        if (m.exact) QUE_FUZZ_CHECK(rx.size() == m.size() && tx.size() - m.size() < group, rx.size(), m.size());
    }
    // Drain: an exact model must come out empty with every message accounted for.
    que_fuzz::msg v{};
    for (std::size_t i = 0; i <= capacity && rx.try_pop(v); ++i) m.popped(v);
    if (m.exact) QUE_FUZZ_CHECK(m.size() == 0, m.size());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    reader in{data, size};
    run(in);
    return 0;
}
