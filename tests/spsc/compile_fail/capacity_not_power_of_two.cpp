// Must NOT compile: the capacity N must be a power of two (slot = index & (N-1)).
// Built by ctest, which checks the error is que's static_assert; with
// QUE_COMPILE_FAIL_VALID defined the capacity is 16 and the program must build.
#include <que/spsc.hpp>

#include <cstdint>

#ifdef QUE_COMPILE_FAIL_VALID
constexpr std::size_t capacity = 16;
#else
constexpr std::size_t capacity = 12;
#endif

int main() {
    auto [tx, rx] = que::spsc::make<std::uint64_t, capacity>();
    return tx && rx ? 0 : 1;
}
