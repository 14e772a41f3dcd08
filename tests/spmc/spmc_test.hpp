// tests/spmc/spmc_test.hpp — what the spmc tests share: self-checking messages
// whose every word carries the index, a backing that re-joins an existing
// segment, and an accounting ledger that records, per index, whether a
// consumer received it or was told it missed it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <span>
#include <system_error>
#include <vector>

#include <que/spmc.hpp>

#include "checked_message.hpp"

namespace spmc_test {

// W words: words 0..W-2 hold the message index, word W-1 a checksum of it.
// A copy torn between two messages has two different indices in it, or an
// index that does not match the checksum.
template <std::size_t W>
struct indexed {
    static_assert(W >= 2);
    std::uint64_t w[W];

    static constexpr std::uint64_t check_of(std::uint64_t i) noexcept { return que_test::mix64(i) ^ 0x5a5a5a5a5a5a5a5aull; }
    static indexed make(std::uint64_t i) noexcept {
        indexed m{};
        for (std::size_t k = 0; k + 1 < W; ++k) m.w[k] = i;
        m.w[W - 1] = check_of(i);
        return m;
    }
    std::uint64_t seq() const noexcept { return w[0]; }
    bool intact() const noexcept {
        for (std::size_t k = 1; k + 1 < W; ++k)
            if (w[k] != w[0]) return false;
        return w[W - 1] == check_of(w[0]);
    }
};

// Re-joins a segment some other handle already maps (the process-private
// stand-in for two processes opening one que::shm name): validates it against
// the joiner's spec, as every backing must.
struct joined {
    que::detail::mapping m;
    que::detail::mapping attach(const que::detail::channel_spec& spec, std::error_code& ec) const {
        ec = que::detail::validate(m.base, m.bytes, spec);
        if (ec) return {};
        return m;
    }
};

// What one consumer concluded, as plain numbers (so a forked child can hand
// it to its parent through shared memory).
struct tally {
    std::uint64_t received = 0;
    std::uint64_t missed = 0;          // skipped indices the test recorded
    std::uint64_t torn = 0;            // failed its own integrity check
    std::uint64_t wrong_index = 0;     // intact, but not an index the consumer could get next
    std::uint64_t double_count = 0;    // an index received/missed twice
    std::uint64_t beyond_end = 0;      // an index >= the number produced
    std::uint64_t laps = 0;            // lap events (or gaps, when inferred)
    std::uint64_t reported_missed = 0; // the consumer's own missed() at the end
    std::uint64_t final_next = 0;      // the consumer's next_index() at the end

    friend std::ostream& operator<<(std::ostream& os, const tally& l) {
        return os << "received=" << l.received << " missed=" << l.missed << " (reported " << l.reported_missed
                  << ") laps=" << l.laps << " torn=" << l.torn << " wrong_index=" << l.wrong_index
                  << " double_count=" << l.double_count << " beyond_end=" << l.beyond_end
                  << " final_next=" << l.final_next;
    }
};

// Per index of the stream, what one consumer concluded: 0 nothing, 1 received,
// 2 missed (skipped after a lap); anything else is a double count. Not
// thread-safe: one per consumer; read by the test thread after join(). The
// marks live in the ledger or in memory the caller provides (shared with a
// parent process).
struct ledger : tally {
    explicit ledger(std::uint64_t produced) : own_(produced, 0), mark(own_.data()), size(produced) {}
    ledger(std::uint8_t* external, std::uint64_t produced) : mark(external), size(produced) {}
    ledger(ledger&&) = default;  // the vector's buffer moves with it: `mark` stays valid
    ledger(const ledger&) = delete;
    ledger& operator=(const ledger&) = delete;

private:
    std::vector<std::uint8_t> own_;

public:
    std::uint8_t* mark;
    std::uint64_t size;

    std::uint8_t at(std::uint64_t i) const noexcept { return mark[i]; }

    void note(std::uint64_t index, std::uint8_t what) noexcept {
        if (index >= size) {
            ++beyond_end;
            return;
        }
        if (mark[index] != 0) ++double_count;
        mark[index] = static_cast<std::uint8_t>(mark[index] + what);
    }

    // A message returned for index `expected_index` (read(): the consumer said
    // which index it was reading).
    template <class M>
    void got(std::uint64_t expected_index, const M& m) noexcept {
        ++received;
        if (!m.intact()) {
            ++torn;
            return;
        }
        if (m.seq() != expected_index) ++wrong_index;
        note(expected_index, 1);
    }

    void skipped(std::uint64_t from, std::uint64_t stride, std::uint64_t count) noexcept {
        ++laps;
        missed += count;
        for (std::uint64_t i = 0; i < count; ++i) note(from + i * stride, 2);
    }
};

// For consumers read through try_pop (which reports no individual laps): infers
// the missed indices from the gaps between received ones, so that the test can
// compare them with the consumer's own missed().
struct gap_tracker {
    std::uint64_t expected;  // next index of the share not yet accounted for
    std::uint64_t stride;

    template <class M>
    void got(ledger& book, const M& m) noexcept {
        if (!m.intact()) {
            ++book.received;
            ++book.torn;
            return;
        }
        const std::uint64_t s = m.seq();
        if (s < expected || (s - expected) % stride != 0) {
            ++book.received;
            ++book.wrong_index;  // out of order, duplicated, or not in this share
            return;
        }
        if (s != expected) book.skipped(expected, stride, (s - expected) / stride);
        book.got(s, m);
        expected = s + stride;
    }
    // After draining: the consumer's position says what it skipped at the end.
    void finish(ledger& book, std::uint64_t next_index) noexcept {
        if (next_index > expected) book.skipped(expected, stride, (next_index - expected) / stride);
    }
};

// How a test consumer reads: read() (each lap reported), try_pop(T&), or the
// batch try_pop(span) — the last two report laps only through missed().
enum class how { read, try_pop, batch };

inline const char* name_of(how h) {
    return h == how::read ? "read" : h == how::try_pop ? "try_pop" : "batch";
}

// Drives one consumer until it is empty after `done()` was seen true (so the
// producer had finished: drained), feeding every outcome to `book`. `idle()`
// runs on each empty result (spin or yield: the caller decides). Finally
// records the consumer's own missed() and next_index().
template <class Consumer, class Done, class Idle>
void drain(Consumer& rx, ledger& book, how mode, Done&& done, Idle&& idle) {
    using M = typename Consumer::value_type;
    gap_tracker gaps{rx.next_index(), rx.stride()};
    M m{};  // read() fills it only on ok; zeroed so gcc -O3 sees no uninitialised use
    M batch[16]{};
    for (;;) {
        // Read the flag before trying: "empty after the producer had finished"
        // then really means drained.
        const bool finished = done();
        bool got_any = false;
        if (mode == how::read) {
            const std::uint64_t at = rx.next_index();
            const que::spmc::read_result r = rx.read(m);
            if (r.status == que::spmc::read_status::ok) {
                book.got(at, m);
                got_any = true;
            } else if (r.status == que::spmc::read_status::lapped) {
                book.skipped(at, rx.stride(), r.skipped);
                got_any = true;
            }
        } else if (mode == how::try_pop) {
            if (rx.try_pop(m)) {
                gaps.got(book, m);
                got_any = true;
            }
        } else {
            const std::size_t n = rx.try_pop(std::span<M>(batch));
            for (std::size_t i = 0; i < n; ++i) gaps.got(book, batch[i]);
            got_any = n != 0;
        }
        if (got_any) continue;
        if (finished) break;
        idle();
    }
    if (mode != how::read) gaps.finish(book, rx.next_index());
    book.reported_missed = rx.missed();
    book.final_next = rx.next_index();
}

// Checks that the consumers' ledgers together cover every index in [0, n)
// exactly once (each index of a consumer's share received or missed by it,
// no index claimed by two consumers). Returns how many indices are not.
inline std::uint64_t uncovered(const std::vector<const ledger*>& books, std::uint64_t n) {
    std::uint64_t bad = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
        unsigned seen = 0;
        for (const ledger* b : books) seen += b->at(i) == 1 || b->at(i) == 2 ? 1u : (b->at(i) == 0 ? 0u : 2u);
        if (seen != 1) ++bad;
    }
    return bad;
}

} // namespace spmc_test
