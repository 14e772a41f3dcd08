// tests/support/pinning.hpp — pin test threads to distinct CPUs, and a spin-wait
// backoff that stays fair when more spinning threads than CPUs exist.
//
//   que_test::pin_current_thread(k)   pins the calling thread to the k-th CPU this
//                                     process may run on (sched_getaffinity order);
//                                     returns false, leaving the thread unpinned,
//                                     when there is no k-th CPU (a 1-CPU machine is
//                                     not an error) or the kernel refuses.
//   que_test::backoff                 call .pause() each time a try_* call fails:
//                                     spins with a CPU pause, then yields, so two
//                                     spinning threads sharing a CPU still progress.
//   que_test::run_pair(p, c)          runs p() on a thread pinned to CPU slot 0 and
//                                     c() on one pinned to slot 1, joins both;
//                                     returns how many of the two got pinned.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstddef>
#include <thread>
#include <utility>

#include <que/detail/cpu.hpp>

namespace que_test {

inline bool pin_current_thread(unsigned k) noexcept {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (::sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return false;
    unsigned seen = 0;
    // glibc's CPU_* macros take a size_t CPU number.
    for (std::size_t cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &allowed)) continue;
        if (seen++ != k) continue;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        return ::pthread_setaffinity_np(::pthread_self(), sizeof(one), &one) == 0;
    }
    return false;
}

// The number of CPUs this process may run on.
inline unsigned usable_cpus() noexcept {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (::sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return 1;
    return static_cast<unsigned>(CPU_COUNT(&allowed));
}

class backoff {
public:
    void pause() noexcept {
        if (++spins_ < 256) {
            que::detail::cpu_relax();
        } else {
            // Another test (or a build) may share this CPU: let it run rather than
            // burning our whole time slice while the peer we wait for is descheduled.
            spins_ = 0;
            std::this_thread::yield();
        }
    }
    void reset() noexcept { spins_ = 0; }

private:
    unsigned spins_ = 0;
};

template <class Producer, class Consumer>
int run_pair(Producer&& producer, Consumer&& consumer) {
    std::atomic<int> pinned{0};
    std::thread c([&] {
        if (pin_current_thread(1)) pinned.fetch_add(1, std::memory_order_relaxed);
        consumer();
    });
    std::thread p([&] {
        if (pin_current_thread(0)) pinned.fetch_add(1, std::memory_order_relaxed);
        producer();
    });
    p.join();
    c.join();
    return pinned.load();
}

}  // namespace que_test
