// tests/fuzz/make_corpus.cpp — writes the seed corpus committed in
// tests/fuzz/corpus/ (run by hand: `make_corpus tests/fuzz/corpus`).
//
// raw/: whole segments as a creator and peers would leave them — empty, part
// full, full, wrapped, indices near 2^64, not yet ready — so the join fuzzer
// starts past the magic check. ops/: a few decision streams for fuzz_ops.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz_common.hpp"

namespace {

void write_file(const std::filesystem::path& p, const void* data, std::size_t n) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
    if (!f) {
        std::perror(p.c_str());
        std::exit(1);
    }
}

void segment(const std::filesystem::path& dir, const char* name, std::uint64_t read, std::uint64_t write,
             std::uint32_t state = 2, std::size_t extra = 0) {
    using namespace que::detail;
    const channel_spec& spec = que_fuzz::spsc_spec();
    que_fuzz::buffer buf(static_cast<std::size_t>(spec.segment_size()) + extra);
    std::memset(buf.base, 0, buf.bytes);
    initialize(buf.base, spec, 4096, 1234);
    header_of(buf.base)->state.store(state);
    producer_of(buf.base)->write.store(write);
    consumer_of(buf.base)->read.store(read);
    auto* slots = reinterpret_cast<que_fuzz::msg*>(slots_of(buf.base));
    for (std::uint64_t i = read; i != write && i - read < que_fuzz::capacity; ++i)
        slots[i % que_fuzz::capacity] = {static_cast<std::uint32_t>(i), 7, i};
    write_file(dir / name, buf.base, buf.bytes);
}

// A headless ring with slots in every state a consumer can meet.
void spmc_segment(const std::filesystem::path& dir, const char* name, std::uint64_t write, std::uint64_t odd_at) {
    using namespace que::detail;
    const channel_spec& spec = que_fuzz::spmc_spec();
    que_fuzz::buffer buf(static_cast<std::size_t>(spec.segment_size()));
    std::memset(buf.base, 0, buf.bytes);
    initialize(buf.base, spec, 4096, 1234);
    producer_of(buf.base)->write.store(write);
    const std::uint64_t slot = spec.slot_size;
    for (std::uint64_t i = write > que_fuzz::capacity ? write - que_fuzz::capacity : 0; i < write; ++i) {
        std::byte* s = slots_of(buf.base) + (i % que_fuzz::capacity) * slot;
        const std::uint64_t seq = i == odd_at ? 2 * i + 1 : 2 * i + 2;  // odd: a producer died mid-write
        const que_fuzz::msg m{static_cast<std::uint32_t>(i), 9, i};
        std::memcpy(s, &seq, 8);
        std::memcpy(s + 8, &m, sizeof m);
    }
    write_file(dir / name, buf.base, buf.bytes);
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const std::filesystem::path root = argv[1];
    const auto raw = root / "raw";
    const auto ops = root / "ops";
    std::filesystem::create_directories(raw);
    std::filesystem::create_directories(ops);

    const std::uint64_t N = que_fuzz::capacity;
    const std::uint64_t top = ~std::uint64_t{0};
    segment(raw, "empty", 0, 0);
    segment(raw, "partial", 3, 8);
    segment(raw, "full", 5, 5 + N);
    segment(raw, "wrapped", 1000003, 1000006);
    segment(raw, "near-wrap", top - 2, top + 4);  // write index wrapped past 2^64
    segment(raw, "insane-ahead", 0, 3 * N);
    segment(raw, "insane-behind", 10, 4);
    segment(raw, "initializing", 0, 0, 1);
    segment(raw, "page-tail", 2, 6, 2, 3072);  // mapping longer than the layout
    spmc_segment(raw, "spmc-empty", 0, ~std::uint64_t{0});
    spmc_segment(raw, "spmc-partial", 5, ~std::uint64_t{0});
    spmc_segment(raw, "spmc-lapped", 1003, ~std::uint64_t{0});
    spmc_segment(raw, "spmc-torn", 20, 17);

    // Decision streams (see fuzz_ops.cpp's reader): exact length, no header
    // edits, indices (case, arg) pairs, one "no slot bytes" bit, then ops.
    const std::vector<std::vector<std::uint8_t>> streams = {
        // exact, no edits, r=0, w=r, then push/pop/batch/peek mix
        {3, 0, 0, 1, 0, 0x00, 0x00, 0x03, 0x41, 0x84, 0x25, 0x55, 0x03, 0x08, 0x09, 0x00, 0x03},
        // r near 2^63, w = r + small: a full ring that wraps the slot array
        {3, 0, 9, 2, 2, 8, 0, 0x04, 0x00, 0x03, 0x03, 0x52, 0x00, 0x35, 0x44, 0x08, 0xF1, 0x00},
        // hostile peer writes to both indices between calls
        {3, 0, 0, 1, 0, 0x00, 0x06, 6, 0x03, 0x07, 11, 1, 2, 3, 4, 5, 6, 7, 8, 0x05, 0x00, 0x04},
        // one header edit (capacity field set to N) then ops
        {3, 1, 5, 4, 0, 1, 0, 0x00, 0x03},
    };
    int i = 0;
    for (const auto& s : streams) write_file(ops / ("seed-" + std::to_string(i++)), s.data(), s.size());
    std::printf("wrote %zu raw segments and %zu op streams under %s\n",
                static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(raw), {})),
                streams.size(), root.c_str());
    return 0;
}
