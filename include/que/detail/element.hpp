// que/detail/element.hpp — what a channel can carry, and the per-handle plumbing
// shared by every channel kind.
#pragma once

#include <concepts>
#include <cstddef>
#include <system_error>
#include <type_traits>

#include "cpu.hpp"
#include "layout.hpp"
#include "mapping.hpp"

namespace que {

// Messages are copied as bytes, possibly between processes, so they must be
// trivially copyable (no pointers into one process's heap hidden behind a
// copy constructor). Over-aligned types beyond a cache line are refused
// because the slot array is only 128-byte aligned.
template <class T>
concept element = std::is_trivially_copyable_v<T> && std::is_object_v<T> && !std::is_const_v<T> &&
                  !std::is_volatile_v<T> && (alignof(T) <= detail::cache_line);

// A backing is where a ring lives: que::heap, que::hugepages, que::shm.
template <class B>
concept backing = requires(const B& b, const detail::channel_spec& spec, std::error_code& ec) {
    { b.attach(spec, ec) } -> std::same_as<detail::mapping>;
};

namespace detail {

// Runs `f(ec)` and throws std::system_error when it fails: the throwing
// overloads of every setup call are this wrapped around the error_code one.
template <class F>
auto throw_on_error(const char* what, F&& f) {
    std::error_code ec;
    auto result = f(ec);
    if (ec) throw std::system_error(ec, what);
    return result;
}

} // namespace detail
} // namespace que
