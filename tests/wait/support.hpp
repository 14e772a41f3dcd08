// tests/wait/support.hpp — shared by the waiting/closing/liveness tests.
#pragma once

#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

#include <que/que.hpp>

namespace que_test {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// Sleeps at once (no spinning, no yielding) so that almost every wait in a
// hand-off test goes through the futex path.
struct eager_sleep {
    static constexpr bool sleeps = true;
    static constexpr std::uint32_t spins = 0;
    static constexpr std::uint32_t yields = 0;
    static constexpr std::chrono::milliseconds check_every{20};
};

// Sleeps at once and would not wake on its own for 1000 s (longer than any
// test's TIMEOUT): a call that returns was woken by the other side, not by
// its slice timeout, and a lost wake-up is a hang that fails the test.
struct deaf_sleep : eager_sleep {
    static constexpr std::chrono::milliseconds check_every{1'000'000};
};

// A message that carries its own check: seq and a function of it.
struct msg {
    std::uint64_t seq;
    std::uint64_t check;
};
constexpr std::uint64_t check_of(std::uint64_t seq) noexcept { return (seq ^ 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull; }
constexpr msg make_msg(std::uint64_t seq) noexcept { return {seq, check_of(seq)}; }

inline std::uint64_t scaled(std::uint64_t n) noexcept {
    const std::uint64_t d = QUE_TEST_SCALE_DIVISOR;
    return n / (d == 0 ? 1 : d);
}

// The raw blocks behind a handle (tests look at the futex words and flags).
template <class Handle>
void* segment_base(const Handle& h) noexcept {
    return h.metadata().data() - que::detail::metadata_offset;
}
template <class Handle>
que::detail::producer_block* producer_block_of(const Handle& h) noexcept {
    return que::detail::producer_of(segment_base(h));
}
template <class Handle>
que::detail::consumer_block* consumer_block_of(const Handle& h) noexcept {
    return que::detail::consumer_of(segment_base(h));
}

// CPU time (user + system) the calling thread has used.
inline std::chrono::microseconds thread_cpu_time() noexcept {
    rusage ru{};
    ::getrusage(RUSAGE_THREAD, &ru);
    return std::chrono::seconds(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           std::chrono::microseconds(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// A segment name unique to this process and test.
inline std::string unique_name(const char* what) {
    return std::string("que-wait-test-") + what + "-" + std::to_string(::getpid());
}

// Waits (bounded, yielding) until pred() holds; false if it never did.
template <class Pred>
bool eventually(Pred&& pred, std::chrono::milliseconds limit = 10s) {
    const auto end = clock_type::now() + limit;
    while (!pred()) {
        if (clock_type::now() > end) return false;
        ::usleep(200);
    }
    return true;
}

} // namespace que_test
