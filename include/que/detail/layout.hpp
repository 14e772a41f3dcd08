// que/detail/layout.hpp — the channel's memory format, shared by every backing.
//
// The same bytes serve a process-private ring and a POSIX shared-memory
// segment, so nothing here is a pointer and every field has a fixed offset
// (checked by the static_asserts below). docs/format.md describes this format
// for programs that want to join a segment without this header.
//
//   offset   size  block
//   0        128   header            written once by the creator, then read-only
//   128      256   producer block    written by the producer
//   384      256   consumer block    written by the consumer(s)
//   640      256   user metadata     free for the application
//   896      ...   slots[capacity]   slot_size bytes each, rounded up to 128
//
// Each side's block is two 128-byte halves: the hot half holds only the index
// the side publishes on every operation; the cold half holds what changes
// rarely (pid, heartbeat, close flag, futex words). Keeping them apart means
// the other side polling a cold field (say, the waiters flag) does not steal
// the hot line on every message.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <system_error>

#include "../errc.hpp"
#include "cpu.hpp"

namespace que::detail {

// "QUE\0RING" read as a little-endian u64 — recognisable in a hex dump.
inline constexpr std::uint64_t format_magic = 0x474e495200455551ull;
// 2: spmc slots padded to lines and read behind the write index (docs/format.md §4).
inline constexpr std::uint32_t format_version = 2;

enum class channel_kind : std::uint32_t { spsc = 1, spmc = 2 };

enum class init_state : std::uint32_t { uninitialized = 0, initializing = 1, ready = 2 };

// Every field below that lives in shared memory is an atomic so that a torn or
// racy access from a misbehaving peer is at worst a wrong value, never UB; and
// it must be lock-free in the address-free sense, or two processes would use
// two different lock tables.
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// Written by the creator before it stores init_state::ready (release);
// read-only afterwards. A joiner trusts none of it until validate() says so.
struct header {
    std::uint64_t magic;          // format_magic
    std::uint32_t version;        // format_version
    std::uint32_t kind;           // channel_kind
    std::uint64_t element_size;   // sizeof(T)
    std::uint64_t element_align;  // alignof(T)
    std::uint64_t capacity;       // N, a power of two
    std::uint64_t type_tag;       // que::type_tag<T>
    std::uint64_t slot_size;      // bytes per slot (sizeof(T) for spsc; seq word + payload for spmc)
    std::uint64_t slots_offset;   // byte offset of slot 0 from the segment start
    std::uint64_t segment_size;   // bytes the layout needs; the mapping may be larger (page rounding)
    std::uint64_t page_size;      // bytes per page of the backing (4 KiB, 2 MiB, 1 GiB)
    std::atomic<std::uint32_t> state;  // init_state; ready is stored last, with release
    std::uint32_t creator_pid;    // informational
    std::uint64_t reserved[5];    // zero; room for version 1 additions that old readers may ignore
};

// The producer's block. Hot half: the index it publishes. Cold half: state
// that changes a handful of times per run.
struct alignas(cache_line) producer_block {
    // Index one past the last published message (monotonic; slot = index & (N-1)).
    // Written by the producer with release after the slot contents; read by
    // consumers with acquire when their cached copy says the ring is empty.
    std::atomic<std::uint64_t> write;
    std::byte hot_pad_[cache_line - sizeof(std::atomic<std::uint64_t>)];

    std::atomic<std::uint32_t> pid;          // attached producer's pid, 0 when none (written by the producer)
    std::atomic<std::uint32_t> closed;       // 1 once the producer called close() (written by the producer)
    std::atomic<std::uint64_t> start_time;   // producer's process start time (clock ticks since boot), to tell pid reuse
    std::atomic<std::uint64_t> heartbeat;    // bumped by the producer while it waits, so a peer can see it is alive
    std::atomic<std::uint32_t> data_futex;   // futex word consumers sleep on; the producer bumps it to wake them
    std::atomic<std::uint32_t> data_waiters; // consumers sleeping on data_futex (written by consumers)
    std::atomic<std::uint32_t> wakes;        // 1 while the attached producer wakes data_futex sleepers (its wait strategy sleeps)
    std::byte cold_pad_[cache_line - 36];
};

// The consumer's block, the mirror image. For spmc (many consumers, none of
// which the producer waits for) only the cold half's counters are used.
struct alignas(cache_line) consumer_block {
    // Index one past the last message the consumer has released (read and
    // handed back; single pops hand back in groups, see spsc.hpp). Written by
    // the consumer with release after it copied the slots out; read by the
    // producer with acquire when its cached copy says the ring is full.
    std::atomic<std::uint64_t> read;
    std::byte hot_pad_[cache_line - sizeof(std::atomic<std::uint64_t>)];

    std::atomic<std::uint32_t> pid;           // attached consumer's pid (spsc), 0 when none
    std::atomic<std::uint32_t> closed;        // 1 once the consumer went away (close() or destruction)
    std::atomic<std::uint64_t> start_time;    // consumer's process start time, to tell pid reuse
    std::atomic<std::uint64_t> heartbeat;     // bumped by the consumer while it waits
    std::atomic<std::uint32_t> space_futex;   // futex word the producer sleeps on when full
    std::atomic<std::uint32_t> space_waiters; // 1 while the producer sleeps on space_futex (written by the producer)
    std::atomic<std::uint32_t> wakes;         // 1 while the attached consumer wakes space_futex sleepers (spsc)
    std::byte cold_pad_[cache_line - 36];
};

inline constexpr std::size_t metadata_size = 256;

inline constexpr std::size_t header_offset = 0;
inline constexpr std::size_t producer_offset = 128;
inline constexpr std::size_t consumer_offset = producer_offset + sizeof(producer_block);
inline constexpr std::size_t metadata_offset = consumer_offset + sizeof(consumer_block);
inline constexpr std::size_t slots_offset = metadata_offset + metadata_size;

static_assert(sizeof(header) == 128);
static_assert(offsetof(header, magic) == 0 && offsetof(header, version) == 8 && offsetof(header, kind) == 12);
static_assert(offsetof(header, element_size) == 16 && offsetof(header, element_align) == 24);
static_assert(offsetof(header, capacity) == 32 && offsetof(header, type_tag) == 40);
static_assert(offsetof(header, slot_size) == 48 && offsetof(header, slots_offset) == 56);
static_assert(offsetof(header, segment_size) == 64 && offsetof(header, page_size) == 72);
static_assert(offsetof(header, state) == 80 && offsetof(header, creator_pid) == 84);
static_assert(sizeof(producer_block) == 256 && sizeof(consumer_block) == 256);
static_assert(offsetof(producer_block, pid) == 128 && offsetof(producer_block, data_futex) == 152);
static_assert(offsetof(consumer_block, pid) == 128 && offsetof(consumer_block, space_futex) == 152);
static_assert(offsetof(producer_block, data_waiters) == 156 && offsetof(producer_block, wakes) == 160);
static_assert(offsetof(consumer_block, space_waiters) == 156 && offsetof(consumer_block, wakes) == 160);
static_assert(producer_offset == 128 && consumer_offset == 384 && metadata_offset == 640 && slots_offset == 896);
static_assert(slots_offset % cache_line == 0);

// The largest slot array que lays out: 2^47 bytes (128 TiB, the user address
// space of x86-64 with 4-level page tables). A capacity beyond it cannot be
// mapped anyway, and the bound keeps every size computation below far from
// overflowing 64 bits. Handles refuse a larger N at compile time.
inline constexpr std::uint64_t max_ring_bytes = std::uint64_t{1} << 47;

constexpr bool ring_fits(std::uint64_t slot_size, std::uint64_t capacity) noexcept {
    return slot_size != 0 && capacity <= max_ring_bytes / slot_size;
}

// The bytes a layout of `capacity` slots of `slot_size` needs; 0 (no layout
// is 0 bytes) when that does not fit in max_ring_bytes. Used on values read
// from a header too, so it must never wrap.
constexpr std::uint64_t checked_segment_size(std::uint64_t slot_size, std::uint64_t capacity) noexcept {
    return ring_fits(slot_size, capacity) ? slots_offset + round_up(slot_size * capacity, cache_line) : 0;
}

// What a handle expects to find: derived from T, N and the channel kind.
struct channel_spec {
    channel_kind kind;
    std::uint64_t element_size;
    std::uint64_t element_align;
    std::uint64_t capacity;
    std::uint64_t type_tag;
    std::uint64_t slot_size;

    constexpr std::uint64_t segment_size() const noexcept { return checked_segment_size(slot_size, capacity); }
};

// The blocks of a mapped segment, by offset. `base` must be 128-byte aligned.
inline header* header_of(void* base) noexcept { return static_cast<header*>(base); }
inline producer_block* producer_of(void* base) noexcept {
    return reinterpret_cast<producer_block*>(static_cast<std::byte*>(base) + producer_offset);
}
inline consumer_block* consumer_of(void* base) noexcept {
    return reinterpret_cast<consumer_block*>(static_cast<std::byte*>(base) + consumer_offset);
}
inline std::byte* metadata_of(void* base) noexcept { return static_cast<std::byte*>(base) + metadata_offset; }
inline std::byte* slots_of(void* base) noexcept { return static_cast<std::byte*>(base) + slots_offset; }

// Lays out a fresh, zeroed segment. The caller is its only user (a private
// allocation, or the O_EXCL creator of a shared one), so plain writes suffice
// until `state`, whose release store publishes all of them to joiners.
inline void initialize(void* base, const channel_spec& spec, std::uint64_t page_bytes, std::uint32_t pid) noexcept {
    header* h = header_of(base);
    h->version = format_version;
    h->kind = static_cast<std::uint32_t>(spec.kind);
    h->element_size = spec.element_size;
    h->element_align = spec.element_align;
    h->capacity = spec.capacity;
    h->type_tag = spec.type_tag;
    h->slot_size = spec.slot_size;
    h->slots_offset = slots_offset;
    h->segment_size = spec.segment_size();
    h->page_size = page_bytes;
    h->creator_pid = pid;
    h->magic = format_magic;
    h->state.store(static_cast<std::uint32_t>(init_state::ready), std::memory_order_release);
}

// Checks a ready segment of `mapped_bytes` bytes against what the caller
// expects. Reads only the header, and only after checking it fits.
inline std::error_code validate(const void* base, std::uint64_t mapped_bytes, const channel_spec& spec) noexcept {
    if (mapped_bytes < sizeof(header)) return errc::truncated_segment;
    const header* h = static_cast<const header*>(base);
    if (h->magic != format_magic) return errc::bad_magic;
    if (h->version != format_version) return errc::unsupported_version;
    if (h->kind != static_cast<std::uint32_t>(spec.kind)) return errc::wrong_kind;
    if (h->element_size != spec.element_size) return errc::wrong_element_size;
    if (h->element_align != spec.element_align) return errc::wrong_element_alignment;
    if (h->capacity != spec.capacity) return errc::wrong_capacity;
    if (h->type_tag != spec.type_tag) return errc::wrong_type_tag;
    // Every size is recomputed from the header's own fields without overflow
    // before it is compared or used: a header claiming 2^61 slots of 8 bytes
    // (a product that wraps to 0) is corrupt, whatever the spec says.
    const std::uint64_t cap = h->capacity;
    const std::uint64_t slot = h->slot_size;
    const std::uint64_t need = checked_segment_size(slot, cap);
    if (cap == 0 || (cap & (cap - 1)) != 0 || need == 0 || h->segment_size != need)
        return errc::corrupt_segment;
    if (slot != spec.slot_size || h->slots_offset != slots_offset || need != spec.segment_size())
        return errc::corrupt_segment;
    if (mapped_bytes < h->segment_size) return errc::truncated_segment;
    return {};
}

} // namespace que::detail
