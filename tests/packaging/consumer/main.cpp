// A minimal program using que the way a downstream project would: it must build
// against que consumed three ways (tests/packaging/CMakeLists.txt) and pass its
// own checks. Exit status 0 means every check held.
#include <que/que.hpp>

#include <cstdint>
#include <cstdio>
#include <optional>

int main() {
    auto [tx, rx] = que::spsc::make<std::uint64_t, 8>();
    int failures = 0;
    for (std::uint64_t i = 0; i < 8; ++i) {
        if (!tx.try_push(i * 3)) ++failures;
    }
    if (tx.try_push(99)) ++failures;  // full
    for (std::uint64_t i = 0; i < 8; ++i) {
        const std::optional<std::uint64_t> v = rx.try_pop();
        if (!v || *v != i * 3) ++failures;
    }
    if (rx.try_pop()) ++failures;  // empty
    std::printf("que consumer: %s\n", failures == 0 ? "ok" : "FAILED");
    return failures == 0 ? 0 : 1;
}
