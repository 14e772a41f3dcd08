// tests/fuzz/fuzz_join.cpp — fuzz target: arbitrary bytes as a shared segment.
//
// The input IS the segment (its size is the mapping's size). Each input is
// joined as consumer and as producer, through an in-memory backing (exact
// ASan bounds) and, when the shm backing is available, through a real
// /dev/shm file opened by name (fstat and mapping checks). A join must either
// fail with a que::errc or succeed; a joined handle is then driven through
// its hot path on whatever indices the bytes hold, and must stay in bounds.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_common.hpp"
#include "fuzz_shm.hpp"

namespace {

void check_error(const std::error_code& ec) {
    // A failed join reports que's own category (content errors) or, for a
    // system call that failed (say mmap), the system category; never nothing.
    QUE_FUZZ_CHECK(ec.value() != 0 &&
                   (ec.category() == que::error_category() || ec.category() == std::system_category()),
                   static_cast<std::uint64_t>(ec.value()));
}

template <class Backing>
void join_both(const Backing& where) {
    std::error_code ec;
    auto rx = que_fuzz::consumer::open(where, ec);
    if (ec) {
        check_error(ec);
        QUE_FUZZ_CHECK(!rx);
    } else {
        QUE_FUZZ_CHECK(static_cast<bool>(rx));
        que_fuzz::exercise(rx);
    }
    auto tx = que_fuzz::producer::open(where, ec);
    if (ec) {
        check_error(ec);
        QUE_FUZZ_CHECK(!tx);
    } else {
        QUE_FUZZ_CHECK(static_cast<bool>(tx));
        que_fuzz::exercise(tx);
        if (rx) que_fuzz::exercise(rx);  // both ends on the same (corrupt) memory
    }
}

// The same bytes joined as a headless ring: consumers of stride 1 and 3,
// then a producer (whose join scans every sequence word), then the
// consumers again over what it wrote.
template <class Backing>
void join_spmc(const Backing& where) {
    std::error_code ec;
    auto rx = que_fuzz::spmc_consumer::open(where, ec);
    if (ec) {
        check_error(ec);
        return;  // the same header check fails for every spmc join
    }
    que_fuzz::exercise(rx);
    auto split = que_fuzz::spmc_consumer::open(where, {.stride = 3, .offset = 1, .start = que::spmc::start_at::latest}, ec);
    QUE_FUZZ_CHECK(!ec, static_cast<std::uint64_t>(ec.value()));
    que_fuzz::exercise(split);
    auto tx = que_fuzz::spmc_producer::open(where, ec);
    // The bytes may name a live process (say pid 1) as the producer.
    QUE_FUZZ_CHECK(!ec || ec == que::errc::role_taken, static_cast<std::uint64_t>(ec.value()));
    if (tx) que_fuzz::exercise(tx);
    que_fuzz::exercise(rx);
    que_fuzz::exercise(split);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    {
        que_fuzz::buffer buf(size);
        if (size != 0) std::memcpy(buf.base, data, size);
        join_both(que_fuzz::bytes_backing{&buf});
    }
    {
        que_fuzz::buffer buf(size);
        if (size != 0) std::memcpy(buf.base, data, size);
        join_spmc(que_fuzz::bytes_backing{&buf});
    }
    que_fuzz::shm_join(data, size, [](const auto& where) {
        join_both(where);
        join_spmc(where);
    });
    return 0;
}
