// que-inspect — print the state of a que shared-memory channel, without
// joining it.
//
//   que-inspect NAME [--huge-dir DIR]
//
// Opens the segment read-only (shm_open O_RDONLY, or DIR/NAME on a hugetlbfs
// mount), checks its size with fstat before mapping it PROT_READ, validates
// the header (magic, version, kind, sizes) against the file size and prints
// the header, both sides' indices, flags, pids and whether those processes
// are alive. It writes nothing to the segment and takes no role, so it is
// safe on a live channel (the numbers are a snapshot of moving counters).
//
// Exit status: 0 printed; 1 usage; 2 cannot open (no such name, permission);
// 3 not a que segment (bad magic, unsupported version, truncated, corrupt).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include <que/detail/layout.hpp>
#include <que/detail/liveness.hpp>
#include <que/detail/shm_file.hpp>

namespace {

namespace qd = que::detail;

int usage() {
    std::fprintf(stderr,
                 "usage: que-inspect NAME [--huge-dir DIR]\n"
                 "  Prints the state of the que channel NAME (in /dev/shm, or in the hugetlbfs\n"
                 "  mount DIR) without joining it.\n");
    return 1;
}

// Fails with a message: the segment is not something we can describe.
int not_que(const std::string& where, const char* why) {
    std::fprintf(stderr, "que-inspect: %s is not a que segment: %s\n", where.c_str(), why);
    return 3;
}

const char* kind_name(std::uint32_t k) {
    switch (static_cast<qd::channel_kind>(k)) {
    case qd::channel_kind::spsc: return "spsc (lossless, single producer, single consumer)";
    case qd::channel_kind::spmc: return "spmc (headless, single producer, many consumers)";
    }
    return nullptr;
}

const char* state_name(std::uint32_t s) {
    switch (static_cast<qd::init_state>(s)) {
    case qd::init_state::uninitialized: return "uninitialized";
    case qd::init_state::initializing: return "initializing";
    case qd::init_state::ready: return "ready";
    }
    return "invalid";
}

std::string page_name(std::uint64_t bytes) {
    if (bytes == (1ull << 30)) return "1 GiB";
    if (bytes == (2ull << 20)) return "2 MiB";
    if (bytes % 1024 == 0) return std::to_string(bytes / 1024) + " KiB";
    return std::to_string(bytes) + " B";
}

std::string peer(std::uint32_t pid, std::uint64_t start_time) {
    if (pid == 0) return "none";
    const bool alive = qd::process_alive(pid, start_time);
    return std::to_string(pid) + (alive ? " (alive)" : " (dead)");
}

bool is_power_of_two(std::uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

} // namespace

int main(int argc, char** argv) {
    std::string_view name;
    std::string huge_dir;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "--huge-dir" && i + 1 < argc) {
            huge_dir = argv[++i];
        } else if (a == "-h" || a == "--help") {
            usage();
            return 0;
        } else if (!a.empty() && a[0] == '-') {
            return usage();
        } else if (name.empty()) {
            name = a;
        } else {
            return usage();
        }
    }
    if (name.empty()) return usage();
    if (name.front() == '/') name.remove_prefix(1);  // accept "/orders" as shm_open does
    if (!qd::valid_shm_name(name)) {
        std::fprintf(stderr, "que-inspect: invalid name \"%.*s\" (1-200 characters, no '/')\n",
                     static_cast<int>(name.size()), name.data());
        return 1;
    }

    qd::shm_path path;
    path.huge = !huge_dir.empty();
    // Built with append: gcc 12 -O3 warns a false -Wrestrict on "/" + std::string.
    path.path = path.huge ? huge_dir : std::string();
    if (!path.huge || huge_dir.back() != '/') path.path.push_back('/');
    path.path.append(name.data(), name.size());
    const std::string where = path.huge ? path.path : "/dev/shm" + path.path;

    qd::unique_fd fd(path.open(O_RDONLY, 0));
    if (!fd) {
        const int err = errno;
        if (err == ENOENT)
            std::fprintf(stderr, "que-inspect: no que channel named \"%.*s\" (%s does not exist)\n",
                         static_cast<int>(name.size()), name.data(), where.c_str());
        else
            std::fprintf(stderr, "que-inspect: cannot open %s: %s\n", where.c_str(), std::strerror(err));
        return 2;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        std::fprintf(stderr, "que-inspect: cannot stat %s: %s\n", where.c_str(), std::strerror(errno));
        return 2;
    }
    if (!S_ISREG(st.st_mode)) return not_que(where, "not a regular file");
    const auto file_bytes = static_cast<std::uint64_t>(st.st_size);
    // Everything we read lies in the header and the two blocks; a file too
    // small for them is not a que segment (and mapping past its end would
    // fault on access).
    if (file_bytes < qd::slots_offset) return not_que(where, "truncated (smaller than the que header)");

    void* base = ::mmap(nullptr, file_bytes, PROT_READ, MAP_SHARED, fd.get(), 0);
    if (base == MAP_FAILED) {
        std::fprintf(stderr, "que-inspect: cannot map %s: %s\n", where.c_str(), std::strerror(errno));
        return 2;
    }
    const qd::header* h = qd::header_of(base);
    const std::uint32_t state = h->state.load(std::memory_order_acquire);
    if (h->magic != qd::format_magic) return not_que(where, "bad magic");
    if (h->version != qd::format_version) {
        std::fprintf(stderr, "que-inspect: %s is a que segment of format version %u; this tool reads version %u\n",
                     where.c_str(), h->version, qd::format_version);
        return 3;
    }
    const char* kind = kind_name(h->kind);
    if (kind == nullptr) return not_que(where, "unknown channel kind");
    if (h->element_size == 0 || !is_power_of_two(h->element_align) || !is_power_of_two(h->capacity) ||
        h->slot_size < h->element_size || h->slots_offset != qd::slots_offset || h->capacity > (1ull << 40) ||
        h->slot_size > (1ull << 32))
        return not_que(where, "corrupt header (sizes inconsistent)");
    const std::uint64_t needed = qd::slots_offset + qd::round_up(h->slot_size * h->capacity, qd::cache_line);
    if (h->segment_size != needed) return not_que(where, "corrupt header (segment size inconsistent)");
    if (file_bytes < h->segment_size) return not_que(where, "truncated (smaller than its header says)");

    const qd::producer_block* p = qd::producer_of(base);
    const qd::consumer_block* c = qd::consumer_of(base);
    const std::uint64_t write = p->write.load(std::memory_order_acquire);
    const std::uint64_t read = c->read.load(std::memory_order_acquire);

    std::printf("que channel \"%.*s\" (%s)\n", static_cast<int>(name.size()), name.data(), where.c_str());
    std::printf("  kind:             %s\n", kind);
    std::printf("  format version:   %u\n", h->version);
    std::printf("  state:            %s\n", state_name(state));
    std::printf("  element size:     %" PRIu64 " bytes\n", h->element_size);
    std::printf("  alignment:        %" PRIu64 " bytes\n", h->element_align);
    std::printf("  capacity:         %" PRIu64 " messages\n", h->capacity);
    std::printf("  slot size:        %" PRIu64 " bytes\n", h->slot_size);
    std::printf("  type tag:         0x%016" PRIx64 "\n", h->type_tag);
    std::printf("  page size:        %s\n", page_name(h->page_size).c_str());
    std::printf("  segment size:     %" PRIu64 " bytes (file %" PRIu64 " bytes)\n", h->segment_size, file_bytes);
    std::printf("  creator pid:      %u\n", h->creator_pid);
    std::printf("  write index:      %" PRIu64 "\n", write);
    if (static_cast<qd::channel_kind>(h->kind) == qd::channel_kind::spsc) {
        std::printf("  read index:       %" PRIu64 "\n", read);
        const std::uint64_t fill = write - read;
        if (fill <= h->capacity)
            std::printf("  fill level:       %" PRIu64 " / %" PRIu64 " (%.1f%%)\n", fill, h->capacity,
                        100.0 * static_cast<double>(fill) / static_cast<double>(h->capacity));
        else
            std::printf("  fill level:       inconsistent (write - read = %" PRIu64 " > capacity)\n", fill);
    } else {
        std::printf("  producer position: %" PRIu64 " messages published (the last %" PRIu64 " readable)\n", write,
                    write < h->capacity ? write : h->capacity);
    }
    std::printf("  producer:         pid %s, closed %s, heartbeat %" PRIu64 ", sleepers %u, wakes sleepers %s\n",
                peer(p->pid.load(), p->start_time.load()).c_str(), p->closed.load() ? "yes" : "no",
                p->heartbeat.load(), p->data_waiters.load(), p->wakes.load() ? "yes" : "no");
    if (static_cast<qd::channel_kind>(h->kind) == qd::channel_kind::spsc)
        std::printf("  consumer:         pid %s, closed %s, heartbeat %" PRIu64 ", producer asleep %s\n",
                    peer(c->pid.load(), c->start_time.load()).c_str(), c->closed.load() ? "yes" : "no",
                    c->heartbeat.load(), c->space_waiters.load() ? "yes" : "no");
    ::munmap(base, file_bytes);
    return 0;
}
