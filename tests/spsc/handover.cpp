// Role hand-over of the lossless channel (issue 11, points 1 and 2): a handle
// that takes over a side must start from the indices as they are once it
// holds the role, and must not trust an insane peer index when it joins.
//
// The hand-over window is widened deterministically with the test hook of
// detail/liveness.hpp (QUE_TEST_HOOKS): inside claim_role, before the new
// handle holds the role, the previous holder publishes more and leaves.
#define QUE_TEST_HOOKS 1

#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include <que/spsc.hpp>

namespace {

struct msg {
    std::uint64_t seq;
    std::uint64_t check;
};
constexpr std::uint64_t check_of(std::uint64_t s) noexcept { return (s ^ 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull; }
constexpr msg make_msg(std::uint64_t s) noexcept { return {s, check_of(s)}; }

constexpr std::size_t N = 64;
using producer = que::spsc::producer<msg, N>;
using consumer = que::spsc::consumer<msg, N>;

struct scoped_name {
    std::string name;
    explicit scoped_name(const char* what)
        : name(std::string("que-handover-") + what + "-" + std::to_string(::getpid())) {
        std::error_code ec;
        que::shm_remove(name, ec);
    }
    ~scoped_name() {
        std::error_code ec;
        que::shm_remove(name, ec);
    }
};

// Runs `in_window` once, the first time claim_role reaches `at`.
std::function<void()> in_window;
que::detail::claim_point window_at = que::detail::claim_point::enter;
void hook(que::detail::claim_point at) {
    if (at != window_at || !in_window) return;
    auto f = std::move(in_window);
    in_window = nullptr;
    f();
}
struct hook_guard {
    hook_guard() { que::detail::claim_hook = &hook; }
    ~hook_guard() {
        que::detail::claim_hook = nullptr;
        in_window = nullptr;
    }
};

template <class Handle>
void* base_of(const Handle& h) {
    return h.metadata().data() - que::detail::metadata_offset;
}

// Pops everything there is and returns the sequence numbers (checking each).
std::vector<std::uint64_t> drain(consumer& rx) {
    std::vector<std::uint64_t> seen;
    msg m{};
    while (rx.try_pop(m)) {
        CHECK(m.check == check_of(m.seq));
        seen.push_back(m.seq);
    }
    return seen;
}

std::vector<std::uint64_t> iota(std::uint64_t from, std::uint64_t to) {
    std::vector<std::uint64_t> v;
    for (std::uint64_t i = from; i < to; ++i) v.push_back(i);
    return v;
}

} // namespace

TEST_CASE("handover: a producer taking over continues from the index published while it claimed the role",
          "[spsc][handover][liveness]") {
    scoped_name n("producer");
    hook_guard hooks;
    consumer rx = consumer::open(que::shm{n.name});
    auto p1 = std::make_unique<producer>(producer::open(que::shm{n.name}));
    for (std::uint64_t i = 0; i < 10; ++i) REQUIRE(p1->try_push(make_msg(i)));
    const auto* prod = que::detail::producer_of(base_of(rx));

    // Inside the new producer's claim: the old one publishes 10..15 and leaves.
    std::uint64_t write_before_takeover = 0;
    in_window = [&] {
        for (std::uint64_t i = 10; i < 16; ++i) REQUIRE(p1->try_push(make_msg(i)));
        p1.reset();
        write_before_takeover = prod->write.load();
    };
    producer p2 = producer::open(que::shm{n.name});
    REQUIRE(write_before_takeover == 16);
    for (std::uint64_t i = 16; i < 20; ++i) REQUIRE(p2.try_push(make_msg(i)));
    // The shared write index never went backwards ...
    CHECK(prod->write.load() == 20);
    // ... and every message arrives once, in order: none overwritten.
    CHECK(drain(rx) == iota(0, 20));
}

TEST_CASE("handover: a consumer taking over starts after what the previous one released while it claimed the role",
          "[spsc][handover][liveness]") {
    scoped_name n("consumer");
    hook_guard hooks;
    producer tx = producer::open(que::shm{n.name});
    auto c1 = std::make_unique<consumer>(consumer::open(que::shm{n.name}));
    for (std::uint64_t i = 0; i < 20; ++i) REQUIRE(tx.try_push(make_msg(i)));
    msg m{};
    for (std::uint64_t i = 0; i < 10; ++i) {
        REQUIRE(c1->try_pop(m));
        REQUIRE(m.seq == i);
    }
    c1->close();  // hands back 0..9 (read index 10)
    const auto* cons = que::detail::consumer_of(base_of(tx));
    REQUIRE(cons->read.load() == 10);

    // Inside the new consumer's claim: the old one reads 10..13 and leaves.
    in_window = [&] {
        for (std::uint64_t i = 10; i < 14; ++i) {
            REQUIRE(c1->try_pop(m));
            REQUIRE(m.seq == i);
        }
        c1.reset();  // closes: read index 14
    };
    consumer c2 = consumer::open(que::shm{n.name});
    CHECK(cons->read.load() == 14);
    // No duplicate of 10..13: the new consumer starts at 14.
    CHECK(drain(c2) == iota(14, 20));
    CHECK(cons->read.load() == 20);
}

TEST_CASE("handover: a producer joining a ring whose read index is insane treats it as full",
          "[spsc][handover][corrupt]") {
    scoped_name n("insane-read");
    consumer rx = consumer::open(que::shm{n.name});
    {
        producer p1 = producer::open(que::shm{n.name});
        for (std::uint64_t i = 0; i < 6; ++i) REQUIRE(p1.try_push(make_msg(i)));
    }
    auto* cons = que::detail::consumer_of(base_of(rx));
    // A broken peer (or a stray write) puts the read index ahead of the write
    // index (6), or more than N behind it.
    for (const std::uint64_t insane : {std::uint64_t{11}, std::uint64_t{6} - 100, std::uint64_t{1} << 40}) {
        cons->read.store(insane);
        producer p2 = producer::open(que::shm{n.name});
        std::uint64_t accepted = 0;
        for (std::uint64_t i = 0; i < N; ++i) if (p2.try_push(make_msg(100 + i))) ++accepted;
        INFO("insane read index " << insane);
        CHECK(accepted == 0);  // full, as a running producer judges it: nothing overwritten
    }
    // The index repaired, the 6 unread messages are intact.
    cons->read.store(0);
    CHECK(drain(rx) == iota(0, 6));
}
