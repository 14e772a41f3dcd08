// que/detail/copy.hpp — the seqlock payload copy of the headless ring.
//
// Contract: copy `Bytes` bytes of payload into or out of a slot that another
// thread (or process) may be writing at the same time, without a C++ data
// race, at close to memcpy's speed where the architecture allows it. The
// caller runs the seqlock around it (spmc.hpp):
//
//   writer:  seq = odd (relaxed);  store<Bytes>(payload, &value);  seq = even (release)
//   reader:  q1 = seq (acquire);   load<Bytes>(buf, payload);      q2 = seq (relaxed); q1 == q2 -> buf intact
//
// store() makes the odd mark visible before any payload byte, load() makes
// every payload byte it read ordered before the re-read of seq: those are the
// two fences of Boehm's seqlock ("Can seqlocks get along with programming
// language memory models?", 2012; Linux's smp_wmb / smp_rmb). The release
// store and acquire load of seq itself give the other two orders.
//
// Two implementations, the same interface:
//  - portable: one std::atomic_ref<std::uint64_t> access per 8-byte word
//    (release stores, acquire loads: the orderings sit on the accesses, no
//    standalone fence, which TSan models and gcc does not warn about). Scalar:
//    compilers do not merge or vectorise atomic accesses, so a 1264-byte
//    payload costs 158 separate accesses (a third of memcpy's rate measured
//    here, docs/benchmarks.md).
//  - native (x86-64, aarch64): the bulk of the payload (whole 16-byte chunks
//    on x86-64, 32-byte chunks on aarch64) is copied by inline assembly with
//    vector registers, so those accesses are outside the C++ abstract machine
//    (as P1478's atomic_load_per_byte_memcpy would be, and as the Linux kernel
//    and taiki-e/atomic-memcpy do it); the few words left over go through
//    relaxed atomic_ref accesses; the fences are:
//      x86-64 (TSO: stores are seen in program order, loads are not
//      reordered with older loads): none in hardware, only compiler barriers
//      (the asm "memory" clobbers), so neither side's accesses move across
//      the seq accesses in the compiler.
//      aarch64: store() issues `dmb ishst` after the odd mark and before the
//      payload (store->store: no payload byte can be seen before the mark;
//      the release store of the even value, `stlr`, orders the payload before
//      it). load() issues `dmb ishld` after the payload (load->load: every
//      payload byte is read before the relaxed re-read of seq, so a reader
//      that saw any byte of the next lap sees that lap's odd mark there; the
//      acquire load of seq, `ldar`, orders the payload loads after it).
//    Torn vector accesses are fine: whatever a reader copies while the writer
//    is in the slot is thrown away by the seq check, and is never formed into
//    a T.
// The portable copy is used under ThreadSanitizer (which cannot see inside
// asm, and would then see the seq accesses unordered), on every other
// architecture, and wherever QUE_SEQLOCK_COPY_PORTABLE is defined (the tests
// build the headless ring both ways). Define it the same way in every
// translation unit of a program: the choice is made by inline functions.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SANITIZE_THREAD__)
#define QUE_DETAIL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define QUE_DETAIL_TSAN 1
#endif
#endif

#if !defined(QUE_SEQLOCK_COPY_PORTABLE) && !defined(QUE_DETAIL_TSAN) && (defined(__x86_64__) || defined(__aarch64__))
#define QUE_DETAIL_NATIVE_COPY 1
#endif

namespace que::detail::copy {

static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::uint64_t>::required_alignment <= 8);

using word_ref = std::atomic_ref<std::uint64_t>;

// 8-byte words of a payload of `bytes` bytes (the slot pads it to whole words,
// so every word access is aligned).
constexpr std::size_t words_for(std::size_t bytes) noexcept { return (bytes + 7) / 8; }

inline word_ref word_at(std::byte* p, std::size_t i) noexcept {
    return word_ref(*reinterpret_cast<std::uint64_t*>(p + 8 * i));
}
inline word_ref word_at(const std::byte* p, std::size_t i) noexcept {
    // atomic_ref needs a non-const object; loads do not write it.
    return word_ref(*reinterpret_cast<std::uint64_t*>(const_cast<std::byte*>(p) + 8 * i));
}

// Word i of the source value, the last one zero-padded (no stale bytes go
// into shared memory).
template <std::size_t Bytes>
inline std::uint64_t source_word(const void* src, std::size_t i) noexcept {
    std::uint64_t w = 0;
    std::memcpy(&w, static_cast<const unsigned char*>(src) + 8 * i, std::min<std::size_t>(8, Bytes - 8 * i));
    return w;
}

struct portable {
    static constexpr const char* name = "portable (atomic_ref words)";

    // `payload`: the slot's 8-byte aligned payload area (words_for(Bytes) words).
    template <std::size_t Bytes>
    static void store(std::byte* payload, const void* src) noexcept {
        for (std::size_t i = 0; i < words_for(Bytes); ++i) {
            // release: keeps the odd mark (stored before this call) before this
            // word. A reader whose load sees this word synchronises with it and
            // then sees the mark (or later) when it re-reads seq.
            word_at(payload, i).store(source_word<Bytes>(src, i), std::memory_order_release);
        }
    }

    // `buf`: words_for(Bytes) words of local memory.
    template <std::size_t Bytes>
    static void load(std::uint64_t* buf, const std::byte* payload) noexcept {
        for (std::size_t i = 0; i < words_for(Bytes); ++i) {
            // acquire: keeps the re-read of seq after this load, and pairs with
            // the release above (see store()).
            buf[i] = word_at(payload, i).load(std::memory_order_acquire);
        }
    }
};

#if defined(QUE_DETAIL_NATIVE_COPY)

struct native {
#if defined(__x86_64__)
    static constexpr const char* name = "x86-64 asm (SSE2 16-byte moves; rep movsb from 512 bytes)";
    static constexpr std::size_t chunk = 16;
    // From this size on, `rep movsb`: with ERMSB/FSRM (Intel since Ivy
    // Bridge, AMD since Zen 3) it moved 1264-byte payloads into a 40 KiB
    // ring faster than glibc's memcpy here, where 16-byte moves reached
    // little more than half of it; below, the 16-byte moves matched memcpy
    // and rep movsb's start-up cost showed (docs/benchmarks.md).
    static constexpr std::size_t string_from = 512;

    // n > 0, a multiple of 16: 64 bytes per turn, then 16 at a time.
    static void bulk(void* dst, const void* src, std::size_t n) noexcept {
        auto* d = static_cast<unsigned char*>(dst);
        const auto* s = static_cast<const unsigned char*>(src);
        if (n >= string_from) {
            asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
            return;
        }
        std::size_t big = n & ~std::size_t{63};
        std::size_t small = n - big;
        if (big != 0) {
            asm volatile(
                "1:\n\t"
                "movdqu   (%[s]), %%xmm0\n\t"
                "movdqu 16(%[s]), %%xmm1\n\t"
                "movdqu 32(%[s]), %%xmm2\n\t"
                "movdqu 48(%[s]), %%xmm3\n\t"
                "movdqu %%xmm0,   (%[d])\n\t"
                "movdqu %%xmm1, 16(%[d])\n\t"
                "movdqu %%xmm2, 32(%[d])\n\t"
                "movdqu %%xmm3, 48(%[d])\n\t"
                "add $64, %[s]\n\t"
                "add $64, %[d]\n\t"
                "sub $64, %[n]\n\t"
                "jnz 1b"
                : [d] "+r"(d), [s] "+r"(s), [n] "+r"(big)
                :
                : "xmm0", "xmm1", "xmm2", "xmm3", "memory", "cc");
        }
        if (small != 0) {
            asm volatile(
                "1:\n\t"
                "movdqu (%[s]), %%xmm0\n\t"
                "movdqu %%xmm0, (%[d])\n\t"
                "add $16, %[s]\n\t"
                "add $16, %[d]\n\t"
                "sub $16, %[n]\n\t"
                "jnz 1b"
                : [d] "+r"(d), [s] "+r"(s), [n] "+r"(small)
                :
                : "xmm0", "memory", "cc");
        }
    }
    // TSO: the hardware keeps store->store and load->load order; only the
    // compiler must not move accesses across these points.
    static void before_payload_stores() noexcept { asm volatile("" ::: "memory"); }
    static void after_payload_loads() noexcept { asm volatile("" ::: "memory"); }
#else  // __aarch64__
    static constexpr const char* name = "aarch64 asm (ldp/stp q-register pairs)";
    static constexpr std::size_t chunk = 32;

    // n > 0, a multiple of 32.
    static void bulk(void* dst, const void* src, std::size_t n) noexcept {
        auto* d = static_cast<unsigned char*>(dst);
        const auto* s = static_cast<const unsigned char*>(src);
        asm volatile(
            "1:\n\t"
            "ldp q0, q1, [%[s]], #32\n\t"
            "stp q0, q1, [%[d]], #32\n\t"
            "subs %[n], %[n], #32\n\t"
            "b.ne 1b"
            : [d] "+r"(d), [s] "+r"(s), [n] "+r"(n)
            :
            : "v0", "v1", "memory", "cc");
    }
    // store->store: the odd mark before any payload byte (Linux's smp_wmb).
    static void before_payload_stores() noexcept { asm volatile("dmb ishst" ::: "memory"); }
    // load->load: every payload byte before the re-read of seq (smp_rmb).
    static void after_payload_loads() noexcept { asm volatile("dmb ishld" ::: "memory"); }
#endif

    template <std::size_t Bytes>
    static void store(std::byte* payload, const void* src) noexcept {
        constexpr std::size_t head = Bytes / chunk * chunk;  // whole chunks of the source: no read past it
        before_payload_stores();
        if constexpr (head != 0) bulk(payload, src, head);
        // The rest (< chunk bytes) word by word; relaxed: the fence above and
        // the release store of the even mark after us do the ordering.
        for (std::size_t i = head / 8; i < words_for(Bytes); ++i)
            word_at(payload, i).store(source_word<Bytes>(src, i), std::memory_order_relaxed);
    }

    template <std::size_t Bytes>
    static void load(std::uint64_t* buf, const std::byte* payload) noexcept {
        // Both sides hold whole words, so the bulk may cover the padded tail.
        constexpr std::size_t head = words_for(Bytes) * 8 / chunk * chunk;
        if constexpr (head != 0) bulk(buf, payload, head);
        for (std::size_t i = head / 8; i < words_for(Bytes); ++i)
            buf[i] = word_at(payload, i).load(std::memory_order_relaxed);
        after_payload_loads();
    }
};

using seqlock = native;
#else
using seqlock = portable;
#endif

}  // namespace que::detail::copy
