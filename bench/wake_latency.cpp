// bench/wake_latency.cpp — what waiting costs (a standalone program).
//
//   wake_latency [rounds]
//
// 1. Wake-up latency of a sleeping consumer: the producer (CPU 0) waits until
//    the consumer (CPU 1) is asleep on the futex (its waiters count is set),
//    stamps the time into a message and pushes it; the consumer stamps the
//    time it returns from pop. Median and p99 of the difference, for
//    wait::sleep, and for comparison for a spinning consumer (wait::spin:
//    the producer waits a fixed pause instead, then pushes).
// 2. The price of the waiters check on the spin path: a ping-pong over two
//    rings (A -> B -> A) with handles that never sleep, once with wait::spin
//    (publish = one release store) and once with a strategy that declares it
//    sleeps but never gets there (publish = seq_cst store + load of the
//    waiters count). Median round trip over repetitions, interleaved; also
//    a one-way 8-byte stream rate and the cost of a push + pop pair in one
//    thread (the bare instruction cost, robust to a noisy machine).
//
// Pins to CPUs 0 and 1; results vary with the hypervisor's placement of the
// two vCPUs (bench/common.hpp explains): run it a few times and compare
// medians. Not a test: it asserts nothing but message order.
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <thread>
#include <vector>

#include <que/spsc.hpp>

namespace {

bool pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<std::size_t>(cpu), &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

std::int64_t now_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct stamp {
    std::uint64_t seq;
    std::int64_t sent_ns;
};

// Declares it sleeps (so publishing pays the waiters check) but spins
// "forever" before it would: isolates the publish-path cost.
struct check_but_spin {
    static constexpr bool sleeps = true;
    static constexpr std::uint32_t spins = std::numeric_limits<std::uint32_t>::max();
    static constexpr std::uint32_t yields = 0;
    static constexpr std::chrono::milliseconds check_every{20};
};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    return v[i];
}

// Wake-up latency (ns) for `rounds` messages; W is the consumer's strategy.
template <class W>
std::vector<double> wake_latency(std::uint64_t rounds) {
    auto ch = que::spsc::make<stamp, 64, W>();
    auto& tx = ch.first;
    auto& rx = ch.second;
    std::vector<double> lat;
    lat.reserve(rounds);
    std::atomic<std::uint64_t> received{0};
    std::thread consumer([&] {
        pin(1);
        stamp s{};
        for (std::uint64_t i = 0; i < rounds; ++i) {
            if (rx.pop(s) != que::status::ok || s.seq != i) {
                std::fprintf(stderr, "wake_latency: bad message\n");
                std::abort();
            }
            lat.push_back(static_cast<double>(now_ns() - s.sent_ns));
            received.store(i + 1, std::memory_order_release);
        }
    });
    pin(0);
    const auto* pb = que::detail::producer_of(tx.metadata().data() - que::detail::metadata_offset);
    for (std::uint64_t i = 0; i < rounds; ++i) {
        while (received.load(std::memory_order_acquire) != i) que::detail::cpu_relax();
        if constexpr (W::sleeps) {
            // Until the consumer registered as a sleeper, then a little more
            // so that it is inside FUTEX_WAIT, not just about to enter it.
            while (pb->data_waiters.load(std::memory_order_acquire) == 0) que::detail::cpu_relax();
        }
        const auto until = now_ns() + 50'000;
        while (now_ns() < until) que::detail::cpu_relax();
        tx.push(stamp{i, now_ns()});
    }
    consumer.join();
    return lat;
}

// Median ping-pong round trip (ns) with strategy W on both rings.
template <class W>
double round_trip(std::uint64_t rounds) {
    auto ab = que::spsc::make<std::uint64_t, 256, W>();
    auto ba = que::spsc::make<std::uint64_t, 256, W>();
    std::thread echo([&] {
        pin(1);
        std::uint64_t v = 0;
        for (std::uint64_t i = 0; i < rounds; ++i) {
            while (!ab.second.try_pop(v)) que::detail::cpu_relax();
            while (!ba.first.try_push(v)) que::detail::cpu_relax();
        }
    });
    pin(0);
    const auto t0 = now_ns();
    std::uint64_t v = 0;
    for (std::uint64_t i = 0; i < rounds; ++i) {
        while (!ab.first.try_push(i)) que::detail::cpu_relax();
        while (!ba.second.try_pop(v)) que::detail::cpu_relax();
        if (v != i) std::abort();
    }
    const auto t1 = now_ns();
    echo.join();
    return static_cast<double>(t1 - t0) / static_cast<double>(rounds);
}

// One-way streaming rate (million messages/s) of 8-byte messages.
template <class W>
double stream_rate(std::uint64_t count) {
    auto ch = que::spsc::make<std::uint64_t, 4096, W>();
    std::thread consumer([&] {
        pin(1);
        std::uint64_t v = 0;
        for (std::uint64_t i = 0; i < count; ++i) {
            while (!ch.second.try_pop(v)) que::detail::cpu_relax();
            if (v != i) std::abort();
        }
    });
    pin(0);
    const auto t0 = now_ns();
    for (std::uint64_t i = 0; i < count; ++i)
        while (!ch.first.try_push(i)) que::detail::cpu_relax();
    consumer.join();
    const auto t1 = now_ns();
    return static_cast<double>(count) / (static_cast<double>(t1 - t0) / 1e9) / 1e6;
}

// ns per try_push + try_pop pair in one thread (no cross-core traffic): the
// bare instruction cost of the two publications, robust to a noisy machine.
template <class W>
double same_thread_pair_ns(std::uint64_t count) {
    auto ch = que::spsc::make<std::uint64_t, 64, W>();
    pin(0);
    std::uint64_t v = 0, sum = 0;
    const auto t0 = now_ns();
    for (std::uint64_t i = 0; i < count; ++i) {
        ch.first.try_push(i);
        ch.second.try_pop(v);
        sum += v;
    }
    const auto t1 = now_ns();
    if (sum != count * (count - 1) / 2) std::abort();
    return static_cast<double>(t1 - t0) / static_cast<double>(count);
}

} // namespace

int main(int argc, char** argv) {
    const std::uint64_t rounds = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2000;

    const auto sleep_lat = wake_latency<que::wait::sleep>(rounds);
    const auto spin_lat = wake_latency<que::wait::spin>(rounds);
    std::printf("wake-up latency, %llu hand-offs (ns): sleeping consumer median %.0f p99 %.0f; "
                "spinning consumer median %.0f p99 %.0f\n",
                static_cast<unsigned long long>(rounds), percentile(sleep_lat, 0.5), percentile(sleep_lat, 0.99),
                percentile(spin_lat, 0.5), percentile(spin_lat, 0.99));

    std::vector<double> rt_spin, rt_check, st_spin, st_check, pair_spin, pair_check;
    for (int rep = 0; rep < 11; ++rep) {  // interleaved, so both see the same placements
        pair_spin.push_back(same_thread_pair_ns<que::wait::spin>(10'000'000));
        pair_check.push_back(same_thread_pair_ns<check_but_spin>(10'000'000));
        rt_spin.push_back(round_trip<que::wait::spin>(100'000));
        rt_check.push_back(round_trip<check_but_spin>(100'000));
        st_spin.push_back(stream_rate<que::wait::spin>(5'000'000));
        st_check.push_back(stream_rate<check_but_spin>(5'000'000));
    }
    std::printf("push+pop in one thread (ns per pair, median of 11): without waiters check %.2f, with %.2f\n",
                percentile(pair_spin, 0.5), percentile(pair_check, 0.5));
    std::printf("spin path round trip (ns, median of 11): without waiters check %.1f, with %.1f\n",
                percentile(rt_spin, 0.5), percentile(rt_check, 0.5));
    std::printf("spin path one-way 8-byte stream (M msg/s, median of 11): without waiters check %.1f, with %.1f\n",
                percentile(st_spin, 0.5), percentile(st_check, 0.5));
    return 0;
}
