// que/detail/futex.hpp — sleeping on a 32-bit word of shared memory.
//
// The raw futex system call, used WITHOUT FUTEX_PRIVATE_FLAG: a private futex
// is keyed by (mm, address) and so only works between threads of one
// process; a shared one is keyed by the underlying page, so a process that
// maps the same segment at another address still meets the same wait queue.
// (libstdc++'s std::atomic::wait uses private futexes and a per-process
// waiter table: useless across processes.)
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>

namespace que::detail {

// The kernel reads the word through this address: the atomic must be exactly
// the 32-bit integer, with nothing around it.
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
static_assert(alignof(std::atomic<std::uint32_t>) == alignof(std::uint32_t));

// Sleeps while *word == expected, for at most `timeout` (relative, monotonic
// clock). The kernel compares and queues atomically with respect to
// futex_wake, so a wake-up that follows a change of the word is never lost.
// Returns early on a wake, a mismatch (EAGAIN), a signal (EINTR) or the
// timeout; callers re-check their condition in every case.
inline void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                       std::chrono::nanoseconds timeout) noexcept {
    if (timeout <= std::chrono::nanoseconds::zero()) return;
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

// Wakes every sleeper on `word` (at most one exists for spsc; spmc consumers
// all want to know data arrived).
inline void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

} // namespace que::detail
