// que/detail/type_tag.hpp — the element type's fingerprint stored in a shared
// segment, so a joiner with a different T of the same size is refused.
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>

namespace que {

namespace detail {

constexpr std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 0xcbf29ce484222325ull) noexcept {
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ull;
    }
    return h;
}

// __PRETTY_FUNCTION__ spells T; the text differs between compilers, which is
// why users mixing compilers give an explicit tag (see que::type_tag below).
template <class T>
constexpr std::string_view type_name() noexcept {
    return __PRETTY_FUNCTION__;
}

template <class T>
constexpr std::uint64_t default_type_tag() noexcept {
    std::uint64_t h = fnv1a(type_name<std::remove_cv_t<T>>());
    h ^= static_cast<std::uint64_t>(sizeof(T)) * 0x9e3779b97f4a7c15ull;
    h ^= static_cast<std::uint64_t>(alignof(T)) << 56;
    return h;
}

} // namespace detail

// The tag written into a shared segment's header for element type T.
// Specialise for types shared between programs built by different compilers:
//   template <> struct que::type_tag<my_msg> : std::integral_constant<std::uint64_t, 42> {};
template <class T>
struct type_tag : std::integral_constant<std::uint64_t, detail::default_type_tag<T>()> {};

template <class T>
inline constexpr std::uint64_t type_tag_v = type_tag<T>::value;

} // namespace que
