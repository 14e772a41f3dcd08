// Must NOT compile: N slots of sizeof(T) bytes do not fit in any segment
// (issue 11: make<int, 1 << 62>() used to wrap slot_size * N to 0 and return a
// ring of 896 bytes). Built by ctest, which checks the error is que's
// static_assert; with QUE_COMPILE_FAIL_VALID the capacity is 16 and it builds.
#include <que/spsc.hpp>

#include <cstdint>

#ifdef QUE_COMPILE_FAIL_VALID
constexpr std::size_t capacity = 16;
#else
constexpr std::size_t capacity = std::size_t{1} << 61;
#endif

int main() {
    auto [tx, rx] = que::spsc::make<std::uint64_t, capacity>();
    return tx && rx ? 0 : 1;
}
