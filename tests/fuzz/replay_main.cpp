// tests/fuzz/replay_main.cpp — runs a fuzz target without libFuzzer.
//
// g++ has no libFuzzer, so the default and gcc-sanitizer builds link the same
// target source against this main instead: it feeds every file of the given
// corpus directories, a few deterministic mutations of each, and a number of
// deterministic pseudo-random inputs. Not a fuzzer (no coverage feedback),
// but it keeps the target compiling and the committed corpus passing in every
// build, including ASan+UBSan ones.
//
//   replay [--random N] [--mutations M] DIR...
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

struct splitmix {
    std::uint64_t s;
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
};

void feed(const std::vector<std::uint8_t>& v) {
    // A fresh heap copy of exactly the input's size, as libFuzzer gives, so
    // ASan catches reads past its end.
    auto* p = static_cast<std::uint8_t*>(std::malloc(v.empty() ? 1 : v.size()));
    if (!v.empty()) std::memcpy(p, v.data(), v.size());
    LLVMFuzzerTestOneInput(p, v.size());
    std::free(p);
}

} // namespace

int main(int argc, char** argv) {
    unsigned long random_inputs = 2000;
    unsigned long mutations = 50;
    std::vector<std::filesystem::path> dirs;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--random" && i + 1 < argc) {
            random_inputs = std::strtoul(argv[++i], nullptr, 10);
        } else if (a == "--mutations" && i + 1 < argc) {
            mutations = std::strtoul(argv[++i], nullptr, 10);
        } else {
            dirs.emplace_back(a);
        }
    }

    splitmix rng{0x5eed};
    unsigned long files = 0, runs = 0;
    for (const auto& dir : dirs) {
        std::vector<std::filesystem::path> paths;
        for (const auto& e : std::filesystem::directory_iterator(dir))
            if (e.is_regular_file()) paths.push_back(e.path());
        std::sort(paths.begin(), paths.end());  // same order, same mutations, every run
        for (const auto& path : paths) {
            std::ifstream f(path, std::ios::binary);
            const std::vector<std::uint8_t> input((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
            ++files;
            feed(input);
            ++runs;
            for (unsigned long m = 0; m < mutations && !input.empty(); ++m) {
                std::vector<std::uint8_t> v = input;
                const unsigned flips = 1 + static_cast<unsigned>(rng.next() % 8);
                for (unsigned k = 0; k < flips; ++k) {
                    const std::size_t at = static_cast<std::size_t>(rng.next() % v.size());
                    switch (rng.next() % 3) {
                    case 0: v[at] = static_cast<std::uint8_t>(v[at] ^ (1u << (rng.next() % 8))); break;
                    case 1: v[at] = static_cast<std::uint8_t>(rng.next()); break;
                    default: v.resize(at); break;  // truncate
                    }
                    if (v.empty()) break;
                }
                feed(v);
                ++runs;
            }
        }
    }
    for (unsigned long i = 0; i < random_inputs; ++i) {
        std::vector<std::uint8_t> v(static_cast<std::size_t>(rng.next() % 2048));
        for (auto& b : v) b = static_cast<std::uint8_t>(rng.next());
        feed(v);
        ++runs;
    }
    if (files == 0 && !dirs.empty()) {
        std::fprintf(stderr, "replay: no corpus files found\n");
        return 1;
    }
    std::printf("replay: %lu corpus files, %lu inputs run, no failure\n", files, runs);
    return 0;
}
