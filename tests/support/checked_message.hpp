// tests/support/checked_message.hpp — messages that prove their own integrity.
//
// Every concurrency test of the suite sends these so that the receiver can tell,
// message by message, whether anything was lost, duplicated, reordered or torn:
//
//   que_test::msg8     8 bytes: a 40-bit sequence number and a 24-bit check of it
//                      in one word, so even the smallest message is self-checking.
//   que_test::msg1264  1264 bytes: sequence, checksum, and a payload derived from
//                      the sequence (a torn copy mixes two sequences' payloads and
//                      fails both the checksum and the payload comparison).
//
// Both have the same interface (used by generic tests):
//   static M make(std::uint64_t seq);             a valid message number `seq`
//   static void make_at(M* where, std::uint64_t seq);   the same, in place
//   std::uint64_t seq() const;                    its sequence number
//   bool intact() const;                          self-consistent (not torn/corrupt)
//   static constexpr std::uint64_t stress_count;  messages a full-size stress test sends
//
// que_test::sequence_checker classifies a stream of received messages; it is not
// thread-safe and makes no Catch2 assertions (Catch2 v2 assertions are not
// thread-safe either): the receiving thread feeds it, the test thread asserts on
// it after join().
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <type_traits>

#ifndef QUE_TEST_SCALE_DIVISOR
#define QUE_TEST_SCALE_DIVISOR 1
#endif

namespace que_test {

// Stress counts are divided by QUE_TEST_SCALE_DIVISOR (sanitizer builds set it);
// never below `floor` so that a scaled test still tests something.
constexpr std::uint64_t scaled(std::uint64_t full, std::uint64_t floor = 10000) noexcept {
    const std::uint64_t n = full / static_cast<std::uint64_t>(QUE_TEST_SCALE_DIVISOR);
    return n < floor ? (full < floor ? full : floor) : n;
}

// splitmix64's finaliser: a cheap bijective mix, good enough to make every
// sequence's payload distinct from its neighbours'.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct msg8 {
    static constexpr std::uint64_t seq_bits = 40;
    static constexpr std::uint64_t seq_mask = (std::uint64_t{1} << seq_bits) - 1;
    static constexpr std::uint64_t stress_count = 10'000'000;

    std::uint64_t word;

    static constexpr std::uint64_t check_of(std::uint64_t seq) noexcept { return mix64(seq) >> seq_bits; }
    static constexpr msg8 make(std::uint64_t seq) noexcept {
        return msg8{(seq & seq_mask) | (check_of(seq & seq_mask) << seq_bits)};
    }
    static void make_at(msg8* where, std::uint64_t seq) noexcept { *where = make(seq); }
    constexpr std::uint64_t seq() const noexcept { return word & seq_mask; }
    constexpr bool intact() const noexcept { return (word >> seq_bits) == check_of(seq()); }
};
static_assert(sizeof(msg8) == 8 && std::is_trivially_copyable_v<msg8>);

struct msg1264 {
    static constexpr std::size_t payload_words = (1264 - 16) / 8;
    static constexpr std::uint64_t stress_count = 1'000'000;

    std::uint64_t seq_;
    std::uint64_t checksum;
    std::uint64_t payload[payload_words];

    // Word i of message `seq`'s payload: an xorshift stream seeded from seq, so
    // generating it costs a few instructions per word.
    static void fill(std::uint64_t* out, std::uint64_t seq) noexcept {
        std::uint64_t s = mix64(seq) | 1;
        for (std::size_t i = 0; i < payload_words; ++i) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            out[i] = s;
        }
    }
    static std::uint64_t checksum_of(const msg1264& m) noexcept {
        std::uint64_t h = mix64(m.seq_);
        for (std::size_t i = 0; i < payload_words; ++i) h = (h ^ m.payload[i]) * 0x100000001b3ull + i;
        return h;
    }
    static void make_at(msg1264* where, std::uint64_t seq) noexcept {
        where->seq_ = seq;
        fill(where->payload, seq);
        where->checksum = checksum_of(*where);
    }
    static msg1264 make(std::uint64_t seq) noexcept {
        msg1264 m;
        make_at(&m, seq);
        return m;
    }
    std::uint64_t seq() const noexcept { return seq_; }
    bool intact() const noexcept {
        if (checksum != checksum_of(*this)) return false;
        std::uint64_t expect[payload_words];
        fill(expect, seq_);
        return std::memcmp(expect, payload, sizeof(payload)) == 0;
    }
};
static_assert(sizeof(msg1264) == 1264 && std::is_trivially_copyable_v<msg1264>);

// Classifies each received message against the next expected sequence number.
struct sequence_checker {
    std::uint64_t expected = 0;                 // next sequence number due (== in-order messages received)
    std::uint64_t received = 0;                 // every message seen
    std::uint64_t torn = 0;                     // failed its own integrity check
    std::uint64_t lost = 0;                     // sequence numbers skipped over
    std::uint64_t duplicated_or_reordered = 0;  // a sequence number at or below one already seen
    std::uint64_t first_bad_seq = ~std::uint64_t{0};

    template <class M>
    void feed(const M& m) noexcept {
        ++received;
        if (!m.intact()) {
            note_bad(m.seq());
            ++torn;
            return;
        }
        const std::uint64_t s = m.seq();
        if (s == expected) {
            ++expected;
        } else if (s > expected) {
            note_bad(s);
            lost += s - expected;
            expected = s + 1;
        } else {
            note_bad(s);
            ++duplicated_or_reordered;
        }
    }

    // True when exactly 0..total-1 arrived, once each, in order, intact.
    bool perfect(std::uint64_t total) const noexcept {
        return torn == 0 && lost == 0 && duplicated_or_reordered == 0 && expected == total && received == total;
    }

    friend std::ostream& operator<<(std::ostream& os, const sequence_checker& c) {
        return os << "received=" << c.received << " expected_next=" << c.expected << " torn=" << c.torn
                  << " lost=" << c.lost << " duplicated_or_reordered=" << c.duplicated_or_reordered
                  << " first_bad_seq=" << c.first_bad_seq;
    }

private:
    void note_bad(std::uint64_t s) noexcept {
        if (first_bad_seq == ~std::uint64_t{0}) first_bad_seq = s;
    }
};

}  // namespace que_test
