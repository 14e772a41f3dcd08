// bench/ring_designs.hpp — the lossless ring designs que's was chosen from,
// kept as contenders so the choice can be re-checked on any machine in the
// same run as que and the peers (issue: "try the known designs and keep the
// fastest that stays correct").
//
// Each is a minimal, spinning, process-private SPSC ring for any trivially
// copyable M, with 64-bit monotonic indices and no slack slot, and each side's
// shared words on 128-byte blocks of their own:
//
//   design_lamport   what que 0.1 shipped: the producer publishes `write`, the
//                    consumer `read`, on every message; each side keeps a
//                    private copy of the other's index and re-reads it only
//                    when the copy says full/empty.
//   design_lazy      the same, but the consumer publishes `read` only every
//                    `release_every` messages and whenever it finds the ring
//                    empty (B-Queue / MCRingBuffer's batched release): the
//                    producer sees free space later, the consumer writes its
//                    hot line 1/64 as often.
//   design_seqarray  the producer publishes each message by storing its index
//                    + 1 in a per-slot sequence word, kept in an array beside
//                    the payloads (so payloads stay contiguous for spans);
//                    the consumer never reads the producer's index and
//                    releases lazily as design_lazy does.
//   design_seqslot   the same with the sequence word inside the slot, next to
//                    the payload (FastForward / Vyukov): one line per message
//                    for both, but payloads are no longer contiguous, so
//                    claim/peek could not return std::span.
//
// These are measuring instruments, not library code: no waiting strategy, no
// close, no validation of a peer's indices.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "thread_channels.hpp"  // per_message_loops

namespace que_bench::designs {

template <class T>
struct alignas(line_bytes) own_line {
    std::atomic<T> value{};
};

template <class T>
struct line_array_deleter {
    void operator()(T* p) const noexcept { ::operator delete[](p, std::align_val_t{line_bytes}); }
};

template <class T>
std::unique_ptr<T[], line_array_deleter<T>> line_array(std::size_t n) {
    T* p = static_cast<T*>(::operator new[](n * sizeof(T), std::align_val_t{line_bytes}));
    std::uninitialized_value_construct_n(p, n);
    return std::unique_ptr<T[], line_array_deleter<T>>(p);
}

constexpr std::size_t release_every(std::size_t n) noexcept { return std::clamp<std::size_t>(n / 4, 1, 64); }

// Index-based rings: design_lamport (Lazy = false) and design_lazy (true).
template <class M, std::size_t N, bool Lazy>
struct index_ring : per_message_loops<index_ring<M, N, Lazy>> {
    using message_type = M;
    static constexpr const char* name = Lazy ? "design_lazy" : "design_lamport";
    static constexpr std::uint64_t mask = N - 1;

    std::size_t slots() const noexcept { return N; }

    void send(const M& m) noexcept {
        if (w_ - cached_r_ == N) {
            // acquire: the consumer's copies out of the slot are done.
            while ((cached_r_ = read_.value.load(std::memory_order_acquire), w_ - cached_r_ == N)) relax();
        }
        std::memcpy(&slots_[w_ & mask], &m, sizeof(M));
        write_.value.store(++w_, std::memory_order_release);
    }
    void recv(M& m) noexcept {
        if (r_ == cached_w_) {
            while ((cached_w_ = write_.value.load(std::memory_order_acquire), r_ == cached_w_)) relax();
        }
        std::memcpy(&m, &slots_[r_ & mask], sizeof(M));
        ++r_;
        if constexpr (Lazy) {
            // Publish every release_every messages, and when this pop took
            // the last message we knew of (so a drained ring is all free).
            if (r_ - published_r_ >= release_every(N) || r_ == cached_w_)
                read_.value.store(published_r_ = r_, std::memory_order_release);
        } else {
            read_.value.store(r_, std::memory_order_release);
        }
    }

private:
    own_line<std::uint64_t> write_;
    own_line<std::uint64_t> read_;
    alignas(line_bytes) std::uint64_t w_ = 0, cached_r_ = 0;                       // producer's line
    alignas(line_bytes) std::uint64_t r_ = 0, cached_w_ = 0, published_r_ = 0;     // consumer's line
    std::unique_ptr<M[], line_array_deleter<M>> slots_ = line_array<M>(N);
};

template <class M, std::size_t N>
using design_lamport = index_ring<M, N, false>;
template <class M, std::size_t N>
using design_lazy = index_ring<M, N, true>;

// Sequence-word rings: design_seqarray (Inline = false) and design_seqslot (true).
template <class M, std::size_t N, bool Inline>
struct seq_ring : per_message_loops<seq_ring<M, N, Inline>> {
    using message_type = M;
    static constexpr const char* name = Inline ? "design_seqslot" : "design_seqarray";
    static constexpr std::uint64_t mask = N - 1;

    std::size_t slots() const noexcept { return N; }

    void send(const M& m) noexcept {
        if (w_ - cached_r_ == N) {
            while ((cached_r_ = read_.value.load(std::memory_order_acquire), w_ - cached_r_ == N)) relax();
        }
        const std::uint64_t i = w_ & mask;
        std::memcpy(payload(i), &m, sizeof(M));
        // release: the payload is visible no later than the word saying it is there.
        seq(i).store(++w_, std::memory_order_release);
    }
    void recv(M& m) noexcept {
        const std::uint64_t i = r_ & mask;
        if (seq(i).load(std::memory_order_acquire) != r_ + 1) {
            if (published_r_ != r_) read_.value.store(published_r_ = r_, std::memory_order_release);
            while (seq(i).load(std::memory_order_acquire) != r_ + 1) relax();
        }
        std::memcpy(&m, payload(i), sizeof(M));
        ++r_;
        if (r_ - published_r_ >= release_every(N)) read_.value.store(published_r_ = r_, std::memory_order_release);
    }

private:
    struct slot {
        std::atomic<std::uint64_t> seq{0};
        M value;
    };
    std::atomic<std::uint64_t>& seq(std::uint64_t i) noexcept {
        if constexpr (Inline) return slots_[i].seq;
        else return seqs_[i];
    }
    void* payload(std::uint64_t i) noexcept {
        if constexpr (Inline) return &slots_[i].value;
        else return &values_[i];
    }

    own_line<std::uint64_t> read_;
    alignas(line_bytes) std::uint64_t w_ = 0, cached_r_ = 0;
    alignas(line_bytes) std::uint64_t r_ = 0, published_r_ = 0;
    std::unique_ptr<slot[], line_array_deleter<slot>> slots_ = line_array<slot>(Inline ? N : 0);
    std::unique_ptr<std::atomic<std::uint64_t>[], line_array_deleter<std::atomic<std::uint64_t>>> seqs_ =
        line_array<std::atomic<std::uint64_t>>(Inline ? 0 : N);
    std::unique_ptr<M[], line_array_deleter<M>> values_ = line_array<M>(Inline ? 0 : N);
};

template <class M, std::size_t N>
using design_seqarray = seq_ring<M, N, false>;
template <class M, std::size_t N>
using design_seqslot = seq_ring<M, N, true>;

}  // namespace que_bench::designs
