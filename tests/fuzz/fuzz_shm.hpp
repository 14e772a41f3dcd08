// tests/fuzz/fuzz_shm.hpp — put fuzz bytes in a real /dev/shm object and join
// it by name through que::shm, when that backing is part of the build.
#pragma once

#include <cstddef>
#include <cstdint>

#if __has_include(<que/backing/shm.hpp>)
#define QUE_FUZZ_HAVE_SHM 1
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <que/backing/shm.hpp>
#else
#define QUE_FUZZ_HAVE_SHM 0
#endif

namespace que_fuzz {

// Writes `data` as the whole object `name` under /dev/shm, calls f(backing),
// then removes the object. Without the shm backing, does nothing.
template <class F>
void shm_join([[maybe_unused]] const std::uint8_t* data, [[maybe_unused]] std::size_t size, [[maybe_unused]] F&& f) {
#if QUE_FUZZ_HAVE_SHM
    static unsigned counter = 0;
    const std::string name = "que-fuzz-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        std::perror("que fuzz: shm_open");
        std::abort();
    }
    std::size_t done = 0;
    while (done < size) {
        const ssize_t w = ::write(fd, data + done, size - done);
        if (w <= 0) {
            std::perror("que fuzz: write");
            std::abort();
        }
        done += static_cast<std::size_t>(w);
    }
    ::close(fd);
    // join_timeout 0: a segment whose state is not ready fails at once
    // (errc::not_ready) rather than costing every such input a wait.
    f(que::shm{name, {.mode = que::open_mode::open, .join_timeout = std::chrono::milliseconds{0}}});
    ::shm_unlink(name.c_str());
#endif
}

} // namespace que_fuzz
