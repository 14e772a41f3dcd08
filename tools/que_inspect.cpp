// que-inspect — find, describe and clean up que shared-memory channels,
// without joining them.
//
//   que-inspect NAME [--huge-dir DIR]          describe the channel NAME
//   que-inspect --list [--match GLOB] [--huge-dir DIR]
//                                              one line per que segment on the machine
//   que-inspect --remove-stale [--match GLOB] [--dry-run] [--huge-dir DIR]
//                                              remove segments whose holders all died
//
// Where it looks: /dev/shm (que::shm on standard pages) and every hugetlbfs
// mount listed in /proc/mounts (que::shm on huge pages, wherever it is
// mounted); --huge-dir DIR looks in DIR only.
//
// How it reads: open(O_RDONLY | O_NOFOLLOW | O_NONBLOCK), fstat (a regular
// file, or it is not a segment), then pread of the header and the two
// indices' blocks. It never maps the file, so a peer that truncates it under
// us cannot make us fault (SIGBUS); every size in the header is checked,
// products and sums for overflow, against the file's size before it is
// believed. It writes nothing to a segment and takes no role, so it is safe on
// a live channel; what it prints is a snapshot of moving counters.
//
// Holders: each side of an spsc channel records its pid and process start
// time; an spmc producer records its own, and spmc consumers record nothing
// (they never write shared memory). So, for every segment, que-inspect also
// finds the processes that map it now (/proc/<pid>/maps, matched by device
// and inode): the only way to see spmc consumers. Some processes' maps cannot
// be read (other users' without root; undumpable ones even as root): counts
// are then lower bounds ("N+") and the output names those processes.
//
// Stale: a que segment (its magic checked, its header valid) that no visible
// process maps, with at least one recorded holder and every recorded holder
// dead (a crash or kill -9 left it). A segment whose holders left normally is
// "idle" and kept: it may hold a backlog its next consumer wants. Segments
// that are not que's (no magic) or whose header is broken are never removed.
// --remove-stale re-checks each segment just before unlinking it (the same
// file, still stale). Removing a name never disturbs a process that still
// maps it (e.g. an spmc consumer in a process we could not read): its
// mapping stays valid; the name is free for a new channel.
//
// Exit status: 0 done; 1 usage; 2 cannot open (no such name, permission) or
// a removal failed; 3 not a que segment (bad magic, unsupported version,
// truncated, corrupt).
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <que/detail/layout.hpp>
#include <que/detail/liveness.hpp>
#include <que/detail/shm_file.hpp>

#ifndef QUE_SCRIPTS_RELATIVE
#define QUE_SCRIPTS_RELATIVE "../share/que/scripts"
#endif

namespace {

namespace qd = que::detail;

constexpr const char* dev_shm = "/dev/shm";

void print_usage(std::FILE* to) {
    std::fprintf(to,
                 "usage: que-inspect NAME [--huge-dir DIR]\n"
                 "       que-inspect --list [--match GLOB] [--huge-dir DIR]\n"
                 "       que-inspect --remove-stale [--match GLOB] [--dry-run] [--huge-dir DIR]\n"
                 "\n"
                 "  NAME            describe the que channel NAME: header, indices, holders, who maps it\n"
                 "  --list          list every que segment in /dev/shm and on every hugetlbfs mount\n"
                 "  --remove-stale  remove que segments no process maps whose recorded holders all died\n"
                 "  --match GLOB    only names matching GLOB (fnmatch), for --list and --remove-stale\n"
                 "  --dry-run       with --remove-stale: say what would be removed, remove nothing\n"
                 "  --huge-dir DIR  look only in DIR (default: /dev/shm and the hugetlbfs mounts of /proc/mounts)\n"
                 "\n"
                 "Nothing is mapped or written: safe on live channels. Run as root to see every process.\n");
}

// ---- where segments live -------------------------------------------------------

struct location {
    std::string dir;  // "/dev/shm" or a hugetlbfs mount point
    bool huge = false;
};

// /proc/mounts escapes space, tab, newline and backslash as \ooo (shared with que::shm's
// one-name check).
using qd::unescape_mount_field;

// Every hugetlbfs mount point (each file system once, even if bind-mounted twice).
std::vector<location> hugetlbfs_mounts() {
    std::vector<location> out;
    std::FILE* f = std::fopen("/proc/mounts", "re");
    if (f == nullptr) return out;
    std::set<std::pair<dev_t, ino_t>> seen;
    char line[4096];
    while (std::fgets(line, sizeof line, f) != nullptr) {
        char dev[1024], dir[2048], type[64];
        if (std::sscanf(line, "%1023s %2047s %63s", dev, dir, type) != 3) continue;
        if (std::strcmp(type, "hugetlbfs") != 0) continue;
        std::string d = unescape_mount_field(dir);
        struct stat st {};
        if (::stat(d.c_str(), &st) != 0) continue;
        if (!seen.insert({st.st_dev, st.st_ino}).second) continue;
        out.push_back({std::move(d), true});
    }
    std::fclose(f);
    return out;
}

std::vector<location> locations(const std::string& huge_dir) {
    if (!huge_dir.empty()) return {{huge_dir, true}};
    std::vector<location> out{{dev_shm, false}};
    for (location& l : hugetlbfs_mounts()) out.push_back(std::move(l));
    return out;
}

std::string join_path(const std::string& dir, std::string_view name) {
    std::string p = dir;
    if (p.empty() || p.back() != '/') p.push_back('/');
    p.append(name.data(), name.size());
    return p;
}

// ---- reading a segment ---------------------------------------------------------

// What pread gave us: the header and both blocks (not the metadata or slots).
constexpr std::size_t snapshot_bytes = qd::metadata_offset;

template <class V>
V field(const unsigned char* buf, std::size_t offset) {
    V v;
    std::memcpy(&v, buf + offset, sizeof v);
    return v;
}

struct peer_info {
    std::uint32_t pid = 0;
    std::uint64_t start_time = 0;
    bool alive = false;
    std::uint32_t closed = 0;
    std::uint64_t heartbeat = 0;
    std::uint64_t heartbeat_later = 0;  // a second sample, for "is it waiting now?"
};

enum class verdict { que, not_que, unreadable };

struct segment {
    std::string name;
    std::string dir;
    std::string path;
    verdict what = verdict::unreadable;
    bool magic = false;  // the file starts with que's magic (so it is ours, even if broken)
    std::string why;  // not_que / unreadable: the reason
    dev_t dev = 0;
    ino_t ino = 0;
    std::uint64_t file_bytes = 0;
    // Header fields (valid when what == que).
    std::uint32_t version = 0, kind = 0, state = 0, creator_pid = 0;
    std::uint64_t element_size = 0, element_align = 0, capacity = 0, slot_size = 0, type_tag = 0;
    std::uint64_t segment_size = 0, page_size = 0;
    std::uint64_t write = 0, read = 0;
    std::uint32_t data_waiters = 0, producer_wakes = 0, space_waiters = 0;
    peer_info producer, consumer;
    // Who maps it now (from /proc/<pid>/maps).
    std::vector<std::uint32_t> mapped_by;
    bool is_spsc() const { return kind == static_cast<std::uint32_t>(qd::channel_kind::spsc); }
};

bool is_power_of_two(std::uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

// Reads exactly `n` bytes at `offset` unless the file is shorter; returns the
// count read (or -1). pread on a file being truncated just returns less.
ssize_t pread_all(int fd, unsigned char* buf, std::size_t n, off_t offset) {
    std::size_t got = 0;
    while (got < n) {
        const ssize_t r = ::pread(fd, buf + got, n - got, offset + static_cast<off_t>(got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += static_cast<std::size_t>(r);
    }
    return static_cast<ssize_t>(got);
}

// The header's sizes, each checked (and their products and sums for
// overflow) before any is believed: the file comes from another process.
// Returns the reason it is corrupt, or nullptr.
const char* check_header(const segment& s, std::uint64_t& expected_file) {
    if (s.kind != static_cast<std::uint32_t>(qd::channel_kind::spsc) &&
        s.kind != static_cast<std::uint32_t>(qd::channel_kind::spmc))
        return "unknown channel kind";
    if (s.element_size == 0 || !is_power_of_two(s.element_align) || s.element_size % s.element_align != 0)
        return "corrupt header (element size and alignment inconsistent)";
    if (!is_power_of_two(s.capacity)) return "corrupt header (capacity not a power of two)";
    if (s.slot_size < s.element_size) return "corrupt header (slot smaller than its element)";
    if (!is_power_of_two(s.page_size) || s.page_size < 4096 || s.page_size > (std::uint64_t{1} << 30))
        return "corrupt header (page size)";
    std::uint64_t ring = 0, needed = 0;
    if (__builtin_mul_overflow(s.slot_size, s.capacity, &ring) ||
        __builtin_add_overflow(ring, qd::cache_line - 1, &needed) ||
        __builtin_add_overflow(needed / qd::cache_line * qd::cache_line, std::uint64_t{qd::slots_offset}, &needed))
        return "corrupt header (slot size x capacity overflows)";
    if (s.segment_size != needed) return "corrupt header (segment size inconsistent with slot size x capacity)";
    if (__builtin_add_overflow(needed, s.page_size - 1, &expected_file))
        return "corrupt header (segment size overflows)";
    expected_file = expected_file / s.page_size * s.page_size;
    return nullptr;
}

// For tests only: with QUE_INSPECT_TEST_SYNC_FDS="W,R" in the environment,
// after each fstat write one byte to fd W, then wait for one byte on fd R, so
// a test can change the file between our fstat and our read (the window in
// which a mapping would have faulted).
void test_hook_after_stat() {
    const char* fds = std::getenv("QUE_INSPECT_TEST_SYNC_FDS");
    int w = -1, r = -1;
    if (fds == nullptr || std::sscanf(fds, "%d,%d", &w, &r) != 2) return;
    char c = 's';
    if (::write(w, &c, 1) != 1) return;
    while (::read(r, &c, 1) < 0 && errno == EINTR) {
    }
}

// Opens and reads one file without mapping it. Fills s.what and s.why.
void read_segment(segment& s) {
    const int fd = ::open(s.path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        s.what = err == ELOOP ? verdict::not_que : verdict::unreadable;
        s.why = err == ELOOP ? "not a regular file (a symbolic link)" : std::strerror(err);
        if (err == ENOENT) s.why = "does not exist";
        return;
    }
    qd::unique_fd guard(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        s.what = verdict::unreadable;
        s.why = std::string("fstat: ") + std::strerror(errno);
        return;
    }
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.what = verdict::not_que;
    if (!S_ISREG(st.st_mode)) {
        s.why = "not a regular file";
        return;
    }
    s.file_bytes = static_cast<std::uint64_t>(st.st_size);
    test_hook_after_stat();
    unsigned char buf[snapshot_bytes] = {};
    const ssize_t got = pread_all(fd, buf, sizeof buf, 0);
    if (got < 0) {
        s.what = verdict::unreadable;
        s.why = std::string("read: ") + std::strerror(errno);
        return;
    }
    const auto n = static_cast<std::size_t>(got);
    s.magic = n >= sizeof(std::uint64_t) && field<std::uint64_t>(buf, offsetof(qd::header, magic)) == qd::format_magic;
    if (n < std::min<std::uint64_t>(s.file_bytes, sizeof buf)) {
        s.why = "truncated while being read (a peer shrank the file)";
        return;
    }
    if (s.file_bytes < qd::slots_offset) {
        s.why = "truncated (smaller than the que header)";
        return;
    }
    if (!s.magic) {
        s.why = "bad magic";
        return;
    }
    s.version = field<std::uint32_t>(buf, offsetof(qd::header, version));
    if (s.version != qd::format_version) {
        s.why = "a que segment of format version " + std::to_string(s.version) + "; this tool reads version " +
                std::to_string(qd::format_version);
        return;
    }
    s.kind = field<std::uint32_t>(buf, offsetof(qd::header, kind));
    s.element_size = field<std::uint64_t>(buf, offsetof(qd::header, element_size));
    s.element_align = field<std::uint64_t>(buf, offsetof(qd::header, element_align));
    s.capacity = field<std::uint64_t>(buf, offsetof(qd::header, capacity));
    s.type_tag = field<std::uint64_t>(buf, offsetof(qd::header, type_tag));
    s.slot_size = field<std::uint64_t>(buf, offsetof(qd::header, slot_size));
    s.segment_size = field<std::uint64_t>(buf, offsetof(qd::header, segment_size));
    s.page_size = field<std::uint64_t>(buf, offsetof(qd::header, page_size));
    s.state = field<std::uint32_t>(buf, offsetof(qd::header, state));
    s.creator_pid = field<std::uint32_t>(buf, offsetof(qd::header, creator_pid));
    if (field<std::uint64_t>(buf, offsetof(qd::header, slots_offset)) != qd::slots_offset) {
        s.why = "corrupt header (slots offset)";
        return;
    }
    std::uint64_t expected_file = 0;
    if (const char* bad = check_header(s, expected_file)) {
        s.why = bad;
        return;
    }
    if (s.file_bytes < s.segment_size) {
        s.why = "truncated (smaller than its header says)";
        return;
    }
    if (s.file_bytes != expected_file) {
        s.why = "corrupt (file of " + std::to_string(s.file_bytes) + " bytes; a que creator makes " +
                std::to_string(expected_file) + ")";
        return;
    }
    constexpr std::size_t p = qd::producer_offset, c = qd::consumer_offset;
    s.write = field<std::uint64_t>(buf, p + offsetof(qd::producer_block, write));
    s.read = field<std::uint64_t>(buf, c + offsetof(qd::consumer_block, read));
    s.producer.pid = field<std::uint32_t>(buf, p + offsetof(qd::producer_block, pid));
    s.producer.start_time = field<std::uint64_t>(buf, p + offsetof(qd::producer_block, start_time));
    s.producer.closed = field<std::uint32_t>(buf, p + offsetof(qd::producer_block, closed));
    s.producer.heartbeat = field<std::uint64_t>(buf, p + offsetof(qd::producer_block, heartbeat));
    s.data_waiters = field<std::uint32_t>(buf, p + offsetof(qd::producer_block, data_waiters));
    s.producer_wakes = field<std::uint32_t>(buf, p + offsetof(qd::producer_block, wakes));
    s.consumer.pid = field<std::uint32_t>(buf, c + offsetof(qd::consumer_block, pid));
    s.consumer.start_time = field<std::uint64_t>(buf, c + offsetof(qd::consumer_block, start_time));
    s.consumer.closed = field<std::uint32_t>(buf, c + offsetof(qd::consumer_block, closed));
    s.consumer.heartbeat = field<std::uint64_t>(buf, c + offsetof(qd::consumer_block, heartbeat));
    s.space_waiters = field<std::uint32_t>(buf, c + offsetof(qd::consumer_block, space_waiters));
    s.producer.alive = qd::process_alive(s.producer.pid, s.producer.start_time);
    s.consumer.alive = s.is_spsc() && qd::process_alive(s.consumer.pid, s.consumer.start_time);
    if (!s.is_spsc()) s.consumer = {};  // spmc consumers record nothing there
    s.producer.heartbeat_later = s.producer.heartbeat;
    s.consumer.heartbeat_later = s.consumer.heartbeat;
    s.what = verdict::que;
}

// Re-reads only the two heartbeat words (a second sample).
void resample_heartbeats(segment& s) {
    const int fd = ::open(s.path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return;
    qd::unique_fd guard(fd);
    unsigned char b[8];
    if (pread_all(fd, b, 8, qd::producer_offset + offsetof(qd::producer_block, heartbeat)) == 8)
        s.producer.heartbeat_later = field<std::uint64_t>(b, 0);
    if (s.is_spsc() && pread_all(fd, b, 8, qd::consumer_offset + offsetof(qd::consumer_block, heartbeat)) == 8)
        s.consumer.heartbeat_later = field<std::uint64_t>(b, 0);
}

// ---- who maps what (/proc/<pid>/maps) --------------------------------------------

struct mappers {
    std::map<std::pair<dev_t, ino_t>, std::vector<std::uint32_t>> by_file;
    std::vector<std::uint32_t> unreadable;  // processes whose maps we could not read
    bool complete() const { return unreadable.empty(); }
};

// For each file of `wanted`, the processes that map it now.
mappers scan_mappers(const std::set<std::pair<dev_t, ino_t>>& wanted) {
    mappers out;
    if (wanted.empty()) return out;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return out;
    const std::uint32_t self = qd::self_pid();
    while (const dirent* e = ::readdir(proc)) {
        char* end = nullptr;
        const unsigned long pid = std::strtoul(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || pid == 0 || pid == self) continue;
        const std::string maps = "/proc/" + std::string(e->d_name) + "/maps";
        std::FILE* f = std::fopen(maps.c_str(), "re");
        if (f == nullptr) {
            if (errno == EACCES || errno == EPERM) out.unreadable.push_back(static_cast<std::uint32_t>(pid));
            continue;  // ENOENT: it exited meanwhile
        }
        std::set<std::pair<dev_t, ino_t>> mine;
        char line[4096];
        while (std::fgets(line, sizeof line, f) != nullptr) {
            // "start-end perms offset major:minor inode path"
            unsigned int major_no = 0, minor_no = 0;
            unsigned long long inode = 0;
            if (std::sscanf(line, "%*s %*s %*s %x:%x %llu", &major_no, &minor_no, &inode) != 3 || inode == 0)
                continue;
            const std::pair<dev_t, ino_t> key{makedev(major_no, minor_no), static_cast<ino_t>(inode)};
            if (wanted.count(key) != 0) mine.insert(key);
        }
        // A process we may open but not read (ptrace rules) reads as empty.
        const bool failed = std::ferror(f) != 0;
        std::fclose(f);
        if (failed) {
            out.unreadable.push_back(static_cast<std::uint32_t>(pid));
            continue;
        }
        for (const auto& key : mine) out.by_file[key].push_back(static_cast<std::uint32_t>(pid));
    }
    ::closedir(proc);
    for (auto& [key, pids] : out.by_file) std::sort(pids.begin(), pids.end());
    return out;
}

void attach_mappers(std::vector<segment>& segs, const mappers& m) {
    for (segment& s : segs) {
        const auto it = m.by_file.find({s.dev, s.ino});
        s.mapped_by = it == m.by_file.end() ? std::vector<std::uint32_t>{} : it->second;
    }
}

std::set<std::pair<dev_t, ino_t>> files_of(const std::vector<segment>& segs) {
    std::set<std::pair<dev_t, ino_t>> out;
    for (const segment& s : segs)
        if (s.what == verdict::que) out.insert({s.dev, s.ino});
    return out;
}

// ---- judging --------------------------------------------------------------------

enum class liveness { live, idle, stale };

const char* liveness_name(liveness l) {
    switch (l) {
    case liveness::live: return "live";
    case liveness::idle: return "idle";
    case liveness::stale: return "stale";
    }
    return "?";
}

liveness judge(const segment& s) {
    if (s.producer.alive || s.consumer.alive || !s.mapped_by.empty()) return liveness::live;
    const bool recorded = s.producer.pid != 0 || s.consumer.pid != 0;
    return recorded ? liveness::stale : liveness::idle;
}

// ---- printing -------------------------------------------------------------------

std::string page_name(std::uint64_t bytes) {
    if (bytes == (1ull << 30)) return "1 GiB";
    if (bytes == (2ull << 20)) return "2 MiB";
    if (bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
    return std::to_string(bytes) + " B";
}

// Sizes without spaces, for the table: 20KiB, 2MiB, 1GiB (exact when possible).
std::string short_size(std::uint64_t bytes) {
    if (bytes != 0 && bytes % (1ull << 30) == 0) return std::to_string(bytes >> 30) + "GiB";
    if (bytes != 0 && bytes % (1ull << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
    if (bytes % 1024 == 0) return std::to_string(bytes >> 10) + "KiB";
    return std::to_string(bytes) + "B";
}

std::string peer_text(const peer_info& p) {
    if (p.pid == 0) return "none";
    return std::to_string(p.pid) + (p.alive ? " (alive)" : " (dead)");
}

std::string peer_short(const peer_info& p) {
    if (p.pid == 0) return "none";
    return std::to_string(p.pid) + (p.alive ? ":alive" : ":dead");
}

std::string pid_list(const std::vector<std::uint32_t>& pids, std::uint32_t except = 0) {
    std::string out;
    for (std::uint32_t p : pids) {
        if (p == except) continue;
        if (!out.empty()) out += ",";
        out += std::to_string(p);
    }
    return out;
}

std::string heartbeat_text(const peer_info& p, int sample_ms) {
    std::string t = std::to_string(p.heartbeat_later);
    if (p.heartbeat_later != p.heartbeat)
        t += " (waiting now: +" + std::to_string(p.heartbeat_later - p.heartbeat) + " in " + std::to_string(sample_ms) +
             " ms)";
    else
        t += " (not waiting)";
    return t;
}

const char* kind_long(const segment& s) {
    return s.is_spsc() ? "spsc (lossless, single producer, single consumer)"
                       : "spmc (headless, single producer, many consumers)";
}

const char* state_name(std::uint32_t st) {
    switch (static_cast<qd::init_state>(st)) {
    case qd::init_state::uninitialized: return "uninitialized";
    case qd::init_state::initializing: return "initializing";
    case qd::init_state::ready: return "ready";
    }
    return "invalid";
}

constexpr int heartbeat_sample_ms = 60;

void describe(const segment& s, const mappers& m) {
    std::printf("que channel \"%s\" (%s)\n", s.name.c_str(), s.path.c_str());
    std::printf("  kind:             %s\n", kind_long(s));
    std::printf("  format version:   %u\n", s.version);
    std::printf("  state:            %s\n", state_name(s.state));
    std::printf("  element size:     %" PRIu64 " bytes\n", s.element_size);
    std::printf("  alignment:        %" PRIu64 " bytes\n", s.element_align);
    std::printf("  capacity:         %" PRIu64 " messages\n", s.capacity);
    std::printf("  slot size:        %" PRIu64 " bytes\n", s.slot_size);
    std::printf("  type tag:         0x%016" PRIx64 "\n", s.type_tag);
    std::printf("  page size:        %s\n", page_name(s.page_size).c_str());
    std::printf("  segment size:     %" PRIu64 " bytes (file %" PRIu64 " bytes)\n", s.segment_size, s.file_bytes);
    std::printf("  creator pid:      %u\n", s.creator_pid);
    std::printf("  write index:      %" PRIu64 "\n", s.write);
    if (s.is_spsc()) {
        std::printf("  read index:       %" PRIu64 "\n", s.read);
        const std::uint64_t fill = s.write - s.read;
        if (fill <= s.capacity)
            std::printf("  fill level:       %" PRIu64 " / %" PRIu64 " (%.1f%%)\n", fill, s.capacity,
                        100.0 * static_cast<double>(fill) / static_cast<double>(s.capacity));
        else
            std::printf("  fill level:       inconsistent (write - read = %" PRIu64 " > capacity)\n", fill);
    } else {
        std::printf("  producer position: %" PRIu64 " messages published (the last %" PRIu64 " readable)\n", s.write,
                    std::min(s.write, s.capacity));
    }
    std::printf("  producer:         pid %s, closed %s, heartbeat %s, sleepers %u, wakes sleepers %s\n",
                peer_text(s.producer).c_str(), s.producer.closed ? "yes" : "no",
                heartbeat_text(s.producer, heartbeat_sample_ms).c_str(), s.data_waiters,
                s.producer_wakes ? "yes" : "no");
    if (s.is_spsc()) {
        std::printf("  consumer:         pid %s, closed %s, heartbeat %s, producer asleep %s\n",
                    peer_text(s.consumer).c_str(), s.consumer.closed ? "yes" : "no",
                    heartbeat_text(s.consumer, heartbeat_sample_ms).c_str(), s.space_waiters ? "yes" : "no");
    } else {
        // spmc consumers write nothing to shared memory: the processes that
        // map the segment are all there is to know of them.
        const std::string others = pid_list(s.mapped_by, s.producer.pid);
        std::printf("  consumers:        not recorded in the segment (spmc consumers write nothing to it); "
                    "processes mapping it besides the producer: %s%s\n",
                    others.empty() ? "none" : others.c_str(), m.complete() ? "" : " (or more: see below)");
    }
    const std::string all = pid_list(s.mapped_by);
    std::printf("  mapped by:        %s%s\n", all.empty() ? "no process" : ("pids " + all).c_str(),
                m.complete() ? "" : (" (and maybe some of pids " + pid_list(m.unreadable) + ", whose maps are unreadable)").c_str());
    std::printf("  liveness:         %s\n", liveness_name(judge(s)));
    std::printf("  (a heartbeat counts the liveness checks of a side while it waits: it moved in %d ms = waiting now)\n",
                heartbeat_sample_ms);
}

// ---- the three commands -----------------------------------------------------------

// Every entry of every location, read (not mapped).
std::vector<segment> scan(const std::vector<location>& locs, const std::string& match) {
    std::vector<segment> out;
    for (const location& l : locs) {
        DIR* d = ::opendir(l.dir.c_str());
        if (d == nullptr) continue;
        while (const dirent* e = ::readdir(d)) {
            const std::string_view name = e->d_name;
            if (name == "." || name == "..") continue;
            if (!match.empty() && ::fnmatch(match.c_str(), e->d_name, 0) != 0) continue;
            segment s;
            s.name = std::string(name);
            s.dir = l.dir;
            s.path = join_path(l.dir, name);
            read_segment(s);
            out.push_back(std::move(s));
        }
        ::closedir(d);
    }
    std::sort(out.begin(), out.end(), [](const segment& a, const segment& b) {
        return std::tie(a.dir, a.name) < std::tie(b.dir, b.name);
    });
    return out;
}

std::string dirs_text(const std::vector<location>& locs) {
    std::string t;
    for (const location& l : locs) t += (t.empty() ? "" : ", ") + l.dir;
    return t;
}

int cmd_describe(std::string_view name, const std::string& huge_dir) {
    if (!name.empty() && name.front() == '/') name.remove_prefix(1);  // accept "/orders" as shm_open does
    if (!qd::valid_shm_name(name)) {
        std::fprintf(stderr, "que-inspect: invalid name \"%.*s\" (1-200 characters, no '/')\n",
                     static_cast<int>(name.size()), name.data());
        return 1;
    }
    const std::vector<location> locs = locations(huge_dir);
    std::vector<segment> found;
    int worst = 0;
    for (const location& l : locs) {
        segment s;
        s.name = std::string(name);
        s.dir = l.dir;
        s.path = join_path(l.dir, name);
        read_segment(s);
        if (s.what == verdict::unreadable && s.why == "does not exist") continue;
        found.push_back(std::move(s));
    }
    if (found.empty()) {
        std::fprintf(stderr, "que-inspect: no que channel named \"%.*s\" (looked in %s)\n",
                     static_cast<int>(name.size()), name.data(), dirs_text(locs).c_str());
        return 2;
    }
    if (found.size() > 1) {
        std::string where;
        for (const segment& s : found) where += (where.empty() ? "" : ", ") + s.path;
        std::printf("note: \"%.*s\" exists in %zu places, each a different channel: %s\n",
                    static_cast<int>(name.size()), name.data(), found.size(), where.c_str());
    }
    // A second look at the heartbeats after a pause tells who waits now.
    bool any = false;
    for (const segment& s : found) any = any || s.what == verdict::que;
    if (any) std::this_thread::sleep_for(std::chrono::milliseconds(heartbeat_sample_ms));
    const mappers m = scan_mappers(files_of(found));
    attach_mappers(found, m);
    bool first = true;
    for (segment& s : found) {
        if (s.what == verdict::unreadable) {
            std::fprintf(stderr, "que-inspect: cannot open %s: %s\n", s.path.c_str(), s.why.c_str());
            worst = std::max(worst, 2);
            continue;
        }
        if (s.what == verdict::not_que) {
            if (s.why.rfind("a que segment of format version", 0) == 0)
                std::fprintf(stderr, "que-inspect: %s is %s\n", s.path.c_str(), s.why.c_str());
            else
                std::fprintf(stderr, "que-inspect: %s is not a que segment: %s\n", s.path.c_str(), s.why.c_str());
            worst = std::max(worst, 3);
            continue;
        }
        resample_heartbeats(s);
        if (!first) std::printf("\n");
        first = false;
        describe(s, m);
    }
    return worst;
}

struct table {
    std::vector<std::vector<std::string>> rows;
    void print() const {
        std::vector<std::size_t> width;
        for (const auto& r : rows)
            for (std::size_t i = 0; i < r.size(); ++i) {
                if (width.size() <= i) width.push_back(0);
                width[i] = std::max(width[i], r[i].size());
            }
        for (const auto& r : rows) {
            std::string line;
            for (std::size_t i = 0; i < r.size(); ++i) {
                line += r[i];
                if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
            }
            std::printf("%s\n", line.c_str());
        }
    }
};

std::vector<std::string> row_of(const segment& s, const mappers& m) {
    const std::string mapped = std::to_string(s.mapped_by.size()) + (m.complete() ? "" : "+");
    if (s.what != verdict::que) {
        std::string why = s.why;
        std::replace(why.begin(), why.end(), ' ', '_');
        return {s.name, s.dir, "?", "-", "-", short_size(s.file_bytes), "-", "-", "-", "corrupt:" + why};
    }
    std::string consumer;
    if (s.is_spsc()) {
        consumer = peer_short(s.consumer);
    } else {
        consumer = pid_list(s.mapped_by, s.producer.pid);
        if (consumer.empty()) consumer = "none";
        consumer = "mapped:" + consumer;
    }
    return {s.name,
            s.dir,
            s.is_spsc() ? "spsc" : "spmc",
            std::to_string(s.element_size) + "B",
            std::to_string(s.capacity),
            short_size(s.file_bytes),
            peer_short(s.producer),
            consumer,
            mapped,
            liveness_name(judge(s))};
}

int cmd_list(const std::string& match, const std::string& huge_dir) {
    const std::vector<location> locs = locations(huge_dir);
    std::vector<segment> segs = scan(locs, match);
    const mappers m = scan_mappers(files_of(segs));
    attach_mappers(segs, m);
    table t;
    t.rows.push_back({"NAME", "DIR", "KIND", "ELEMENT", "CAPACITY", "SIZE", "PRODUCER", "CONSUMER", "MAPPED", "STATUS"});
    std::size_t listed = 0, others = 0;
    std::vector<std::string> unreadable;
    for (const segment& s : segs) {
        if (s.what == verdict::unreadable) {
            unreadable.push_back(s.path + " (" + s.why + ")");
            continue;
        }
        // Only que segments: a file without our magic is somebody else's.
        // One with our magic but a broken header is listed as corrupt.
        if (!s.magic) {
            ++others;
            continue;
        }
        t.rows.push_back(row_of(s, m));
        ++listed;
    }
    std::printf("que segments: %zu (looked in %s%s%s)\n", listed, dirs_text(locs).c_str(),
                match.empty() ? "" : ", names matching ", match.c_str());
    if (listed != 0) t.print();
    if (others != 0) std::printf("(%zu other entries are not que segments)\n", others);
    for (const std::string& u : unreadable) std::printf("(cannot read %s)\n", u.c_str());
    if (!m.complete())
        std::printf("(the maps of pids %s are unreadable: MAPPED counts only the processes seen)\n",
                    pid_list(m.unreadable).c_str());
    return 0;
}

std::string stale_reason(const segment& s) {
    std::string r = "producer " + peer_short(s.producer);
    if (s.is_spsc()) r += ", consumer " + peer_short(s.consumer);
    return r + ", mapped by no process";
}

int cmd_remove_stale(const std::string& match, const std::string& huge_dir, bool dry_run) {
    const std::vector<location> locs = locations(huge_dir);
    std::vector<segment> segs = scan(locs, match);
    const mappers m = scan_mappers(files_of(segs));
    attach_mappers(segs, m);
    int rc = 0;
    std::size_t removed = 0, kept_live = 0, kept_idle = 0;
    for (const segment& s : segs) {
        if (s.what != verdict::que) continue;  // never touch what is not a valid que segment
        const liveness l = judge(s);
        if (l == liveness::live) ++kept_live;
        if (l == liveness::idle) ++kept_idle;
        if (l != liveness::stale) continue;
        if (dry_run) {
            std::printf("would remove %s (%s)\n", s.path.c_str(), stale_reason(s).c_str());
            ++removed;
            continue;
        }
        // Look again just before unlinking: the same file (not one created
        // under the name since), still a que segment, still stale.
        segment again = s;
        read_segment(again);
        std::vector<segment> one{again};
        const mappers m2 = scan_mappers(files_of(one));
        attach_mappers(one, m2);
        if (one[0].what != verdict::que || one[0].dev != s.dev || one[0].ino != s.ino ||
            judge(one[0]) != liveness::stale) {
            std::printf("kept %s (changed while looking: no longer stale)\n", s.path.c_str());
            continue;
        }
        if (::unlink(s.path.c_str()) != 0) {
            std::fprintf(stderr, "que-inspect: cannot remove %s: %s\n", s.path.c_str(), std::strerror(errno));
            rc = 2;
            continue;
        }
        std::printf("removed %s (%s)\n", s.path.c_str(), stale_reason(s).c_str());
        ++removed;
    }
    std::printf("%s %zu stale segment%s; kept %zu live, %zu idle (holders left normally)\n",
                dry_run ? "would remove" : "removed", removed, removed == 1 ? "" : "s", kept_live, kept_idle);
    if (removed != 0 && !m.complete())
        std::printf("(the maps of pids %s are unreadable: a process among them that still maps a removed segment "
                    "keeps it; only the name is gone)\n",
                    pid_list(m.unreadable).c_str());
    return rc;
}

// Where the huge-page scripts are installed, relative to this binary.
void print_scripts() {
    char exe[4096];
    const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = '\0';
    std::string dir(exe);
    dir.erase(dir.find_last_of('/') + 1);
    dir += QUE_SCRIPTS_RELATIVE;
    char real[4096];
    if (::realpath((dir + "/hp.sh").c_str(), real) == nullptr) {
        std::printf("huge-page scripts: scripts/hp.sh, gp.sh, mount_huge_and_gigantic.sh of the que source tree\n");
        return;
    }
    std::string scripts(real);
    scripts.erase(scripts.find_last_of('/'));
    std::printf("huge-page scripts: %s/hp.sh (reserve 2 MiB pages), %s/gp.sh (1 GiB pages),\n"
                "                   %s/mount_huge_and_gigantic.sh (mount hugetlbfs)\n",
                scripts.c_str(), scripts.c_str(), scripts.c_str());
}

} // namespace

int main(int argc, char** argv) {
    std::string_view name;
    std::string huge_dir, match;
    bool list = false, remove_stale = false, dry_run = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--huge-dir" && i + 1 < argc) {
            huge_dir = argv[++i];
        } else if (a == "--match" && i + 1 < argc) {
            match = argv[++i];
        } else if (a == "--list") {
            list = true;
        } else if (a == "--remove-stale") {
            remove_stale = true;
        } else if (a == "--dry-run") {
            dry_run = true;
        } else if (a == "-h" || a == "--help") {
            print_usage(stdout);
            print_scripts();
            return 0;
        } else if (!a.empty() && a[0] == '-') {
            print_usage(stderr);
            return 1;
        } else if (name.empty() && !a.empty()) {
            name = a;
        } else {
            print_usage(stderr);
            return 1;
        }
    }
    const int commands = (list ? 1 : 0) + (remove_stale ? 1 : 0) + (name.empty() ? 0 : 1);
    if (commands != 1 || (dry_run && !remove_stale) || (!match.empty() && !name.empty())) {
        print_usage(stderr);
        return 1;
    }
    if (list) return cmd_list(match, huge_dir);
    if (remove_stale) return cmd_remove_stale(match, huge_dir, dry_run);
    return cmd_describe(name, huge_dir);
}
