// que/wait.hpp — how a blocking call waits, and what it reports.
//
// A channel handle takes its wait strategy as a template parameter:
//
//   que::spsc::producer<Msg, 4096>                   // que::wait::spin (the default)
//   que::spsc::producer<Msg, 4096, que::wait::sleep> // may sleep in the kernel
//   auto [tx, rx] = que::spsc::make<Msg, 4096, que::wait::sleep>();
//
// The strategy only changes what happens when a call has to wait (push on a
// full ring, pop on an empty one) and what publishing costs:
//
//  - wait::spin (default): spin with a pause instruction, then sched_yield in
//    a loop. It never sleeps in the kernel, so the other side never needs to
//    wake it: try_push / try_pop / commit / release are exactly a store with
//    release ordering, nothing more. The fastest hand-off; a waiting side
//    keeps a core busy (yielding it to anything else runnable).
//  - wait::sleep: spin, yield a few times, then sleep on a futex word in the
//    shared block (works across processes). To make that safe, every
//    publication on a sleep-strategy handle is a seq_cst store followed by a
//    load of a "waiters" count in a line the peer rarely writes (an L1 hit
//    while nobody sleeps; a FUTEX_WAKE system call only when someone does).
//    Costs a few ns per publication (an xchg instead of a mov on x86); an idle
//    waiter uses ~no CPU.
//
// The two ends of a channel may use different strategies (even in different
// processes): a sleeper whose peer does not wake sleepers (a spin-strategy
// peer) notices it from the peer's block and sleeps in short slices instead
// (wait::poll_slice), so mixing costs latency, never a hang.
//
// A custom strategy is any type with the members of wait::spin below, e.g.
//   struct eager_sleep : que::wait::sleep { static constexpr std::uint32_t spins = 0, yields = 0; };
//
// Whatever the strategy, a blocking call also watches the other side: it
// returns status::closed when the peer closed (a consumer first drains what
// is left), and status::peer_dead when the peer's process died without
// closing (checked every wait::spin::check_every while waiting).
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "detail/cpu.hpp"

namespace que {

// The outcome of a blocking push / pop.
enum class status : std::uint8_t {
    ok = 0,     // the message was pushed / popped
    timeout,    // a timed call (push_for / pop_for) reached its deadline first
    closed,     // the peer closed the channel (for a consumer: and everything sent was received)
    peer_dead,  // the peer's process died (kill -9, crash) without closing, and nothing is left to receive
    replaced,   // the segment's name no longer leads to it (removed, or a new segment under it) and nothing
                // is left to receive: nobody can join it any more; reopen the name (spmc consumers)
};

constexpr const char* to_string(status s) noexcept {
    switch (s) {
    case status::ok: return "ok";
    case status::timeout: return "timeout";
    case status::closed: return "closed";
    case status::peer_dead: return "peer_dead";
    case status::replaced: return "replaced";
    }
    return "unknown";
}

namespace wait {

// Spin, then yield; never sleeps in the kernel; publishing costs nothing extra.
struct spin {
    static constexpr bool sleeps = false;
    // cpu_relax iterations (each ~10-40 ns on x86) before the first yield.
    static constexpr std::uint32_t spins = 1024;
    // sched_yield rounds before sleeping (unused: spin never sleeps).
    static constexpr std::uint32_t yields = 0;
    // While waiting, how often to bump our heartbeat and check the peer is alive.
    static constexpr std::chrono::milliseconds check_every{20};
};

// Spin briefly, yield a little, then sleep on a futex until woken.
struct sleep {
    static constexpr bool sleeps = true;
    static constexpr std::uint32_t spins = 256;
    static constexpr std::uint32_t yields = 8;
    // Also the longest single futex sleep: a sleeper wakes at least this often
    // to look for a dead peer, so detection takes at most about this long.
    static constexpr std::chrono::milliseconds check_every{20};
};

// The longest futex sleep when the peer does not advertise waking sleepers
// (it uses wait::spin): the sleeper then polls at this period.
inline constexpr std::chrono::milliseconds poll_slice{1};

} // namespace wait

template <class W>
concept wait_policy = requires {
    { W::sleeps } -> std::convertible_to<bool>;
    { W::spins } -> std::convertible_to<std::uint32_t>;
    { W::yields } -> std::convertible_to<std::uint32_t>;
    { W::check_every } -> std::convertible_to<std::chrono::milliseconds>;
};

static_assert(wait_policy<wait::spin> && wait_policy<wait::sleep>);

// The spin-wait hint a busy-wait loop of your own should call between polls
// (e.g. `while (!tx.try_push(m)) que::cpu_relax();`): x86 `pause`, arm64
// `yield`. It frees the core's resources for a sibling hyperthread and avoids
// the pipeline flush when the awaited cache line changes.
inline void cpu_relax() noexcept { detail::cpu_relax(); }

// The fatal handler: called when a call cannot return what its signature
// promises and has no way to report it, so that the mistake is loud instead
// of a fabricated value. Today one call does that: spsc::consumer's
// `T pop()` on a stream that ended (closed and drained, or the producer died):
// it has no message to return. The handler gets a message naming the call and
// the reason; que calls std::abort() after it returns. The default writes the
// message and a newline to stderr (fd 2). Replace it (to log elsewhere first,
// say) with set_fatal_handler, which returns the previous handler.
using fatal_handler = void (*)(const char* message) noexcept;

namespace detail {

inline void default_fatal_handler(const char* message) noexcept {
    // write(2): no allocation, no stdio lock, fine in a dying process.
    const std::size_t n = std::strlen(message);
    for (std::size_t done = 0; done < n;) {
        const ssize_t w = ::write(2, message + done, n - done);
        if (w <= 0) break;
        done += static_cast<std::size_t>(w);
    }
    [[maybe_unused]] const ssize_t nl = ::write(2, "\n", 1);
}

inline std::atomic<fatal_handler>& fatal_handler_slot() noexcept {
    static std::atomic<fatal_handler> slot{&default_fatal_handler};
    return slot;
}

} // namespace detail

inline fatal_handler set_fatal_handler(fatal_handler h) noexcept {
    return detail::fatal_handler_slot().exchange(h != nullptr ? h : &detail::default_fatal_handler);
}

// Calls the fatal handler with `message`, then aborts. Cold: only on misuse.
[[noreturn, gnu::cold, gnu::noinline]] inline void fatal(const char* message) noexcept {
    detail::fatal_handler_slot().load()(message);
    std::abort();
}

} // namespace que
