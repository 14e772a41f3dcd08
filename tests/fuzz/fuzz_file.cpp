// tests/fuzz/fuzz_file.cpp — fuzz target: what sits at a channel's name.
//
// The join target (fuzz_join.cpp) fuzzes a segment's bytes; this one fuzzes
// the file those bytes live in and the joiner's options, the failure modes
// of docs/security.md: the file's kind (regular, FIFO, directory, symlink,
// socket), its owner and group (another user's, when run as root), its mode
// bits, whether a live creator holds the creator lock, and the joiner's
// mode, permissions, accepted owners/group, recover_stale and read-only
// attach. Input layout:
//
//   byte 0      kind: 0 regular, 1 FIFO, 2 directory, 3 symlink, 4 socket (mod 5)
//   byte 1      bit 0: owner nobody, bit 1: group nogroup (root only),
//               bit 2: a live creator holds the lock, bit 3: accept nobody,
//               bit 4: accept group nogroup, bit 5: recover_stale,
//               bit 6: read-only (spmc consumer) instead of spsc consumer
//   bytes 2-3   the file's mode bits (& 07777, little-endian)
//   bytes 4-5   the joiner's permissions (& 0777, little-endian)
//   byte 6      open mode (mod 3: open, open_or_create, create)
//   byte 7      reserved
//   bytes 8...  the segment's contents (regular file only)
//
// Every join must return at once (join_timeout 0) with success or the errc
// the file's properties call for, checked here against an independent
// oracle; a joined handle is then exercised as in the join target.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_common.hpp"

namespace {

constexpr uid_t nobody = 65534;
constexpr gid_t nogroup = 65534;

struct input {
    unsigned kind;
    bool own_nobody, grp_nogroup, creator_alive, accept_nobody, accept_group, recover, read_only;
    mode_t file_mode;
    mode_t permissions;
    que::open_mode mode;
    const std::uint8_t* body;
    std::size_t body_size;
};

input parse(const std::uint8_t* data, std::size_t size) {
    std::uint8_t h[8] = {};
    std::memcpy(h, data, size < 8 ? size : 8);
    input in{};
    in.kind = h[0] % 5u;
    in.own_nobody = (h[1] & 1) != 0;
    in.grp_nogroup = (h[1] & 2) != 0;
    in.creator_alive = (h[1] & 4) != 0;
    in.accept_nobody = (h[1] & 8) != 0;
    in.accept_group = (h[1] & 16) != 0;
    in.recover = (h[1] & 32) != 0;
    in.read_only = (h[1] & 64) != 0;
    in.file_mode = static_cast<mode_t>((h[2] | (h[3] << 8)) & 07777);
    in.permissions = static_cast<mode_t>((h[4] | (h[5] << 8)) & 0777);
    in.mode = static_cast<que::open_mode>(h[6] % 3u);
    in.body = size > 8 ? data + 8 : nullptr;
    in.body_size = size > 8 ? size - 8 : 0;
    return in;
}

// Empty, or a header's worth whose state word (offset 80) is 0 or 1: what a
// creator leaves before it stored ready.
bool half_made(const input& in) {
    if (in.body_size == 0) return true;
    if (in.body_size < sizeof(que::detail::header)) return false;
    std::uint32_t state;
    std::memcpy(&state, in.body + offsetof(que::detail::header, state), sizeof state);
    return state < static_cast<std::uint32_t>(que::detail::init_state::ready);
}

// `ec` is `want`; not being root, the open itself may fail first (a file
// we made without read or write permission for ourselves).
bool is(const std::error_code& ec, que::errc want) {
    return ec == want || (::geteuid() != 0 && ec == que::errc::permission_denied);
}

void check_error(const std::error_code& ec) {
    QUE_FUZZ_CHECK(ec.value() != 0 &&
                       (ec.category() == que::error_category() || ec.category() == std::system_category() ||
                        ec.category() == std::generic_category()),
                   static_cast<std::uint64_t>(ec.value()));
}

// Plants the file; returns the fd holding the creator lock (or -1), and
// whether the ownership change took effect (only root may chown).
int plant(const input& in, const std::string& path, bool& foreign, bool& in_group) {
    int lock_fd = -1;
    foreign = false;
    in_group = false;
    switch (in.kind) {
    case 0: {
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        QUE_FUZZ_CHECK(fd >= 0);
        if (in.creator_alive) QUE_FUZZ_CHECK(que::detail::lock_file(fd, F_WRLCK));
        for (std::size_t done = 0; done < in.body_size;) {
            const ssize_t w = ::write(fd, in.body + done, in.body_size - done);
            QUE_FUZZ_CHECK(w > 0);
            done += static_cast<std::size_t>(w);
        }
        if (::geteuid() == 0 && (in.own_nobody || in.grp_nogroup)) {
            if (::fchown(fd, in.own_nobody ? nobody : 0, in.grp_nogroup ? nogroup : 0) == 0) {
                foreign = in.own_nobody;
                in_group = in.grp_nogroup;
            }
        }
        QUE_FUZZ_CHECK(::fchmod(fd, in.file_mode) == 0);
        if (in.creator_alive) lock_fd = fd;
        else ::close(fd);
        break;
    }
    case 1: QUE_FUZZ_CHECK(::mkfifo(path.c_str(), 0600) == 0); break;
    case 2: QUE_FUZZ_CHECK(::mkdir(path.c_str(), 0700) == 0); break;
    case 3: QUE_FUZZ_CHECK(::symlink("/dev/null", path.c_str()) == 0); break;
    case 4: {
        const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        QUE_FUZZ_CHECK(s >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        QUE_FUZZ_CHECK(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        ::close(s);
        break;
    }
    }
    return lock_fd;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const input in = parse(data, size);
    static unsigned counter = 0;
    const std::string name = "que-fuzz-file-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    const std::string path = "/dev/shm/" + name;
    bool foreign = false, in_group = false;
    const int lock_fd = plant(in, path, foreign, in_group);

    que::shm where{name,
                   {.mode = in.mode,
                    .permissions = in.permissions,
                    .populate = false,
                    .join_timeout = std::chrono::milliseconds{0}, .recover_stale = in.recover}};
    if (in.accept_nobody) where.options.accepted_owners = {nobody};
    if (in.accept_group) where.options.accepted_group = nogroup;

    std::error_code ec;
    que::spsc::consumer<que_fuzz::msg, que_fuzz::capacity> rx;
    que::spmc::consumer<que_fuzz::msg, que_fuzz::capacity> srx;
    if (in.read_only) srx = que_fuzz::spmc_consumer::open(where, ec);
    else rx = que_fuzz::consumer::open(where, ec);

    // The oracle: what the file's properties call for, in que's order.
    const bool trusted_owner = !foreign || in.accept_nobody || (in_group && in.accept_group);
    const bool may_join = !(in.mode == que::open_mode::create && !in.recover);
    if (in.kind != 0) {
        // Something not a file at the name: create mode says it is taken;
        // every other way in says what it is, at once.
        if (may_join) QUE_FUZZ_CHECK(is(ec, que::errc::not_a_regular_file), static_cast<std::uint64_t>(ec.value()));
        else QUE_FUZZ_CHECK(is(ec, que::errc::already_exists), static_cast<std::uint64_t>(ec.value()));
    } else if (!may_join) {
        QUE_FUZZ_CHECK(is(ec, que::errc::already_exists), static_cast<std::uint64_t>(ec.value()));
    } else if (!trusted_owner) {
        QUE_FUZZ_CHECK(is(ec, que::errc::foreign_owner), static_cast<std::uint64_t>(ec.value()));
    } else if ((in.file_mode & ~in.permissions) != 0) {
        QUE_FUZZ_CHECK(is(ec, que::errc::insecure_permissions), static_cast<std::uint64_t>(ec.value()));
    } else if (half_made(in)) {
        // A file nobody finished: the lock tells a live creator from a dead one.
        if (in.creator_alive) QUE_FUZZ_CHECK(is(ec, que::errc::not_ready), static_cast<std::uint64_t>(ec.value()));
        else if (!in.recover || in.mode == que::open_mode::open)
            QUE_FUZZ_CHECK(is(ec, que::errc::creator_died), static_cast<std::uint64_t>(ec.value()));
        else QUE_FUZZ_CHECK(!ec || ::geteuid() != 0, static_cast<std::uint64_t>(ec.value()));  // recovered
    } else if (ec) {
        check_error(ec);
        // A live creator's segment is never judged stale.
        if (in.creator_alive) QUE_FUZZ_CHECK(ec != que::errc::creator_died);
        // Without the lock, a file of a header's size or more whose state is
        // not ready is a dead creator's (unless it was recovered, no error).
        if (ec == que::errc::creator_died) QUE_FUZZ_CHECK(!in.recover || in.mode == que::open_mode::open);
    }
    if (rx) que_fuzz::exercise(rx);
    if (srx) que_fuzz::exercise(srx);
    rx = {};
    srx = {};

    if (lock_fd >= 0) ::close(lock_fd);
    if (in.kind == 2) ::rmdir(path.c_str());
    else ::unlink(path.c_str());
    return 0;
}
