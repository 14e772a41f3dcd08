// que/detail/describe.hpp — the text of a setup error.
//
// The error_code overloads of make/open/subscribe report a bare que::errc
// and build no text. Their throwing overloads run them and, only once one has
// failed, describe the failure: which call on which handle type, which
// channel, what was expected and what was found, and what to do about it:
//
//   que::spmc::consumer<tick, 1024>::open("ticks"): capacity mismatch: the
//   segment holds 4096 slots, this handle expects 1024 (both sides must use
//   the same N)
//
// "Found" is read again after the failure (the backing's read_prefix: a
// pread of the file's header and blocks, for que::shm and que::memfd), so the
// values are those of the segment as it is now. The exception is a
// std::system_error whose code() is the errc and whose what() is that text.
#pragma once

#include <unistd.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "../errc.hpp"
#include "layout.hpp"
#include "type_tag.hpp"

namespace que::detail {

// "4 KiB pages", "2 MiB pages", "1 GiB pages".
inline std::string page_name(std::uint64_t bytes) {
    if (bytes >= (std::uint64_t{1} << 30) && bytes % (std::uint64_t{1} << 30) == 0)
        return std::to_string(bytes >> 30) + " GiB pages";
    if (bytes >= (std::uint64_t{1} << 20) && bytes % (std::uint64_t{1} << 20) == 0)
        return std::to_string(bytes >> 20) + " MiB pages";
    return std::to_string(bytes >> 10) + " KiB pages";
}

// T as the compiler spells it, cut out of type_name<T>() (g++: "... [with T =
// ns::msg; std::string_view = ...]", clang: "... [T = ns::msg]").
template <class T>
std::string_view display_type_name() noexcept {
    std::string_view s = type_name<std::remove_cv_t<T>>();
    const std::size_t at = s.find("T = ");
    if (at == std::string_view::npos) return s;
    s.remove_prefix(at + 4);
    std::size_t end = s.find("; ");
    if (end == std::string_view::npos) end = s.rfind(']');
    return end == std::string_view::npos ? s : s.substr(0, end);
}

// A std::system_error whose what() is exactly the text given (std's own
// what() appends ec.message(), which the text already holds where it reads
// best). Copying shares the text: no allocation that could throw.
class setup_error final : public std::system_error {
public:
    setup_error(std::error_code ec, std::string text)
        : std::system_error(ec), text_(std::make_shared<const std::string>(std::move(text))) {}
    const char* what() const noexcept override { return text_->c_str(); }

private:
    std::shared_ptr<const std::string> text_;
};

// The call that failed.
struct setup_site {
    const char* handle;          // "que::spsc::producer"
    const char* call;            // "open", "make", "subscribe"
    std::string_view type;       // display_type_name<T>()
    std::uint64_t capacity;      // N
    channel_spec spec;           // what the handle expects
    const char* side = nullptr;  // "producer" / "consumer": the role the call takes (null: make, both)
    std::uint64_t stride = 1;    // spmc::options given (invalid_options)
    std::uint64_t offset = 0;
};

// The bytes read_prefix gives: header, producer block, consumer block.
inline constexpr std::size_t diagnosis_bytes = metadata_offset;

template <class V>
V field_at(const unsigned char* buf, std::size_t offset) noexcept {
    V v;
    std::memcpy(&v, buf + offset, sizeof v);
    return v;
}

inline const char* kind_name(std::uint64_t k) noexcept {
    return k == static_cast<std::uint32_t>(channel_kind::spsc)   ? "spsc"
           : k == static_cast<std::uint32_t>(channel_kind::spmc) ? "spmc"
                                                                 : "unknown";
}

inline std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
    return buf;
}

// What was expected and found, and the fix, for the errors a header tells;
// `seg` is the segment's first diagnosis_bytes, or null if unreadable.
inline std::string describe_found(const setup_site& s, std::error_code ec, const unsigned char* seg) {
    const std::string t(s.type);
    if (ec == errc::invalid_options) {
        if (s.stride == 0) return "stride 0 given (stride must be >= 1; 1 = every message)";
        return "offset " + std::to_string(s.offset) + " given with stride " + std::to_string(s.stride) +
               " (offset must be < stride: consumers with offsets 0.." + std::to_string(s.stride - 1) +
               " split the stream)";
    }
    if (seg == nullptr) return {};
    auto u64 = [&](std::size_t off) { return field_at<std::uint64_t>(seg, off); };
    switch (static_cast<errc>(ec.value())) {
    case errc::wrong_kind:
        return std::string("the segment is an ") + kind_name(field_at<std::uint32_t>(seg, offsetof(header, kind))) +
               " channel, this handle is " + kind_name(static_cast<std::uint32_t>(s.spec.kind)) +
               " (one name is one channel of one kind: use the same kind on both sides, or another name)";
    case errc::wrong_element_size:
        return "the segment holds elements of " + std::to_string(u64(offsetof(header, element_size))) +
               " bytes, this handle's T (" + t + ") is " + std::to_string(s.spec.element_size) +
               " bytes (both sides must use the same T)";
    case errc::wrong_element_alignment:
        return "the segment holds elements aligned to " + std::to_string(u64(offsetof(header, element_align))) +
               " bytes, this handle's T (" + t + ") to " + std::to_string(s.spec.element_align) +
               " (both sides must use the same T)";
    case errc::wrong_capacity:
        return "the segment holds " + std::to_string(u64(offsetof(header, capacity))) +
               " slots, this handle expects " + std::to_string(s.capacity) + " (both sides must use the same N)";
    case errc::wrong_type_tag:
        return "the segment's element type has the size (" + std::to_string(s.spec.element_size) +
               ") and alignment (" + std::to_string(s.spec.element_align) + ") of this handle's T (" + t +
               ") but another type tag (segment " + hex(u64(offsetof(header, type_tag))) + ", this handle " +
               hex(s.spec.type_tag) +
               "): the types differ by name (the same struct in another namespace, another type of that size, or "
               "a program built by another compiler). Use the same type on both sides, or give it one explicit "
               "tag in both programs: template <> struct que::type_tag<" +
               t + "> : std::integral_constant<std::uint64_t, 42> {};";
    case errc::role_taken: {
        constexpr std::size_t prod_pid = producer_offset + offsetof(producer_block, pid);
        constexpr std::size_t cons_pid = consumer_offset + offsetof(consumer_block, pid);
        const char* side = s.side;
        std::uint32_t pid = 0;
        if (side == nullptr) {  // make(): the producer joins first
            pid = field_at<std::uint32_t>(seg, prod_pid);
            side = pid != 0 ? "producer" : "consumer";
            if (pid == 0) pid = field_at<std::uint32_t>(seg, cons_pid);
        } else {
            pid = field_at<std::uint32_t>(seg, std::strcmp(side, "producer") == 0 ? prod_pid : cons_pid);
        }
        if (pid == static_cast<std::uint32_t>(::getpid()))
            return std::string("this process already holds the ") + side + " side (pid " + std::to_string(pid) +
                   "): a side has one handle at a time; move the handle you have instead of opening another";
        return std::string("another live process (pid ") + std::to_string(pid) + ") holds the " + side +
               " side: stop it first (a dead holder's side is taken over)";
    }
    case errc::truncated_segment:
    case errc::corrupt_segment:
        return "remove it (que::shm_remove, que-inspect --remove-stale) if no live process uses it";
    default: return {};
    }
}

// The whole text: "<handle><T, N>::<call>(<where>): <errc message>: <found>"
// (make: "que::spsc::make<T, N>(<where>): ...").
template <class B>
std::string describe_setup_error(const setup_site& s, const B& where, std::error_code ec) {
    std::string text = std::string(s.handle) + "<" + std::string(s.type) + ", " + std::to_string(s.capacity) + ">";
    if (*s.call != '\0') text += std::string("::") + s.call;
    text += "(";
    if constexpr (requires { { where.describe() } -> std::convertible_to<std::string>; }) text += where.describe();
    text += "): " + ec.message();
    std::string found;
    if constexpr (requires(unsigned char* p) { { where.read_prefix(p, diagnosis_bytes) } -> std::same_as<bool>; }) {
        unsigned char seg[diagnosis_bytes];
        found = describe_found(s, ec, where.read_prefix(seg, sizeof seg) ? seg : nullptr);
    } else {
        found = describe_found(s, ec, nullptr);
    }
    if (found.empty()) {
        if constexpr (requires { { where.explain(ec) } -> std::convertible_to<std::string>; }) found = where.explain(ec);
    }
    if (!found.empty()) text += ": " + found;
    return text;
}

// The throwing overloads: f(ec) is the error_code overload.
template <class B, class F>
auto setup_or_throw(const setup_site& s, const B& where, F&& f) {
    std::error_code ec;
    auto result = f(ec);
    if (ec) throw setup_error(ec, describe_setup_error(s, where, ec));
    return result;
}

template <class T, std::size_t N>
setup_site site_of(const char* handle, const char* call, const channel_spec& spec, const char* side = nullptr) noexcept {
    return {handle, call, display_type_name<T>(), N, spec, side};
}

// For calls that have no backing to describe (subscribe).
struct no_backing {};

} // namespace que::detail
