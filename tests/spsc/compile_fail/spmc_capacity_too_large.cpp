// Must NOT compile: spmc's N slots (sequence word + payload) do not fit in any
// segment (issue 11: make<std::uint64_t, 1 << 60>() overflowed inside make).
// Built by ctest, which checks the error is que's static_assert; with
// QUE_COMPILE_FAIL_VALID the capacity is 16 and the program must build.
#include <que/spmc.hpp>

#include <cstdint>

#ifdef QUE_COMPILE_FAIL_VALID
constexpr std::size_t capacity = 16;
#else
constexpr std::size_t capacity = std::size_t{1} << 60;
#endif

int main() {
    auto [tx, rx] = que::spmc::make<std::uint64_t, capacity>();
    return tx && rx ? 0 : 1;
}
