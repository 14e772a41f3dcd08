// que/errc.hpp — the errors que's setup calls report.
//
// Setup calls (make, open, shm_remove) follow the std::filesystem convention:
// one overload throws std::system_error carrying a que::errc, the other takes a
// std::error_code& and never throws. The hot path (push/pop and friends) never
// reports through here: it returns bool / counts and is noexcept.
#pragma once

#include <string>
#include <system_error>

namespace que {

enum class errc : int {
    // 0 is success, as for every std::error_code enum.
    invalid_name = 1,          // empty, too long, or containing '/' (beyond one leading '/', which is ignored)
    not_found,                 // open mode `open` and no such segment
    already_exists,            // open mode `create` and the name is taken
    permission_denied,         // the segment or mount exists but we may not open it
    bad_magic,                 // the segment is not a que segment (or is garbage)
    unsupported_version,       // a que segment of a format version we do not speak
    wrong_kind,                // spsc joined as spmc or the reverse
    wrong_element_size,        // sizeof(T) differs from the creator's
    wrong_element_alignment,   // alignof(T) differs from the creator's
    wrong_capacity,            // N differs from the creator's
    wrong_type_tag,            // same size/alignment, different type
    truncated_segment,         // the file is smaller than its header says
    corrupt_segment,           // header fields inconsistent with each other
    not_ready,                 // creator did not finish initialising in time
    no_huge_pages,             // the kernel's huge page pool could not back the mapping
    hugetlbfs_not_mounted,     // no hugetlbfs of the requested page size at the path
    out_of_memory,             // allocation or mapping failed for lack of memory
    role_taken,                // another live producer/consumer holds this side
    system_failure,            // an unexpected system call failure (see message)
    // Appended for issue 11 (trust under hostile peers); docs/security.md.
    foreign_owner,             // the segment's owner is not one shm_options accepts
    insecure_permissions,      // the segment grants mode bits beyond shm_options::permissions
    not_a_regular_file,        // a FIFO, directory, symlink, socket or device sits at the name
    creator_died,              // the creator died before the segment was ready (stale segment)
    unsealed_fd,               // a memfd to join lacks F_SEAL_SHRINK | F_SEAL_GROW (or is no memfd)
    invalid_permissions,       // shm_options::permissions has bits outside 0777
    cannot_remove,             // remove_on_close asked, but this process may not unlink the name
    // Appended for issue 13 (a new user's first hour).
    exists_with_other_pages,   // the name exists under another backing location (/dev/shm vs a hugetlbfs mount)
    invalid_options,           // spmc::options out of range (stride 0, offset >= stride)
};

namespace detail {

class error_category final : public std::error_category {
public:
    const char* name() const noexcept override { return "que"; }

    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::invalid_name:
            return "invalid channel name (must be 1-200 characters, no '/' or NUL (one leading '/' is allowed and "
                   "ignored: \"/m3\" is \"m3\"), not '.' or '..')";
        case errc::not_found: return "no such shared channel";
        case errc::already_exists: return "a shared channel of that name already exists";
        case errc::permission_denied: return "permission denied opening the shared channel";
        case errc::bad_magic: return "not a que segment (bad magic)";
        case errc::unsupported_version: return "unsupported que segment format version";
        case errc::wrong_kind: return "channel kind mismatch (spsc vs spmc)";
        case errc::wrong_element_size: return "element size mismatch";
        case errc::wrong_element_alignment: return "element alignment mismatch";
        case errc::wrong_capacity: return "capacity mismatch";
        case errc::wrong_type_tag: return "element type tag mismatch";
        case errc::truncated_segment: return "shared segment is smaller than its layout requires";
        case errc::corrupt_segment: return "shared segment header is inconsistent";
        case errc::not_ready: return "shared channel was not initialised in time";
        case errc::no_huge_pages: return "no huge pages available (reserve some: scripts/hp.sh, scripts/gp.sh)";
        case errc::hugetlbfs_not_mounted:
            return "hugetlbfs of that page size is not mounted (scripts/mount_huge_and_gigantic.sh)";
        case errc::out_of_memory: return "out of memory";
        case errc::role_taken:
            return "this side of the channel is already held by a live handle (another process's, or one of this "
                   "process's)";
        case errc::system_failure: return "unexpected system call failure";
        case errc::foreign_owner:
            return "the shared segment is owned by a user this process does not trust (only our euid and root "
                   "by default): remove it if it was planted, or name its owner in shm_options::accepted_owners "
                   "or its group in shm_options::accepted_group";
        case errc::insecure_permissions:
            return "the shared segment grants more access (mode bits) than shm_options::permissions allows: "
                   "someone else may read or write it; remove it, or widen permissions if that is intended";
        case errc::not_a_regular_file:
            return "the channel name is taken by something that is not a regular file (FIFO, directory, "
                   "symlink, socket or device): remove it";
        case errc::creator_died:
            return "the shared segment's creator died before finishing initialisation (stale segment): remove "
                   "it with que::shm_remove, or open with shm_options::recover_stale = true";
        case errc::unsealed_fd:
            return "the file descriptor is not a memfd sealed with F_SEAL_SHRINK | F_SEAL_GROW: a peer could "
                   "truncate it under us (SIGBUS); create the channel with que::memfd";
        case errc::invalid_permissions:
            return "shm_options::permissions has bits outside 0777 (setuid, setgid or sticky): give file "
                   "permission bits only";
        case errc::cannot_remove:
            return "remove_on_close was asked, but this process may not unlink the name (a sticky directory "
                   "and a segment owned by another user): let its owner remove it, or drop remove_on_close";
        case errc::exists_with_other_pages:
            return "a channel of that name exists on another page size (under /dev/shm or a hugetlbfs mount): one "
                   "name is one channel; give both sides the same shm_options::pages, or remove the other one";
        case errc::invalid_options:
            return "invalid consumer options (stride must be >= 1 and offset < stride)";
        }
        return "unknown que error";
    }

    // Let callers compare against portable conditions, e.g.
    // `ec == std::errc::permission_denied`.
    std::error_condition default_error_condition(int ev) const noexcept override {
        switch (static_cast<errc>(ev)) {
        case errc::permission_denied: return std::errc::permission_denied;
        case errc::not_found: return std::errc::no_such_file_or_directory;
        case errc::already_exists: return std::errc::file_exists;
        case errc::invalid_name: return std::errc::invalid_argument;
        case errc::out_of_memory:
        case errc::no_huge_pages: return std::errc::not_enough_memory;
        case errc::not_ready: return std::errc::timed_out;
        case errc::invalid_permissions: return std::errc::invalid_argument;
        case errc::cannot_remove: return std::errc::operation_not_permitted;
        case errc::exists_with_other_pages: return std::errc::file_exists;
        case errc::invalid_options: return std::errc::invalid_argument;
        default: return {ev, *this};
        }
    }
};

} // namespace detail

inline const std::error_category& error_category() noexcept {
    static const detail::error_category category;
    return category;
}

inline std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), error_category()};
}

} // namespace que

template <>
struct std::is_error_code_enum<que::errc> : std::true_type {};
