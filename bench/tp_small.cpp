// bench/tp_small.cpp — threads throughput grid for 8, 64 and 256-byte payloads.
#include "throughput.hpp"

namespace que_bench {

void register_throughput_small() {
    grid::throughput_payload<8>();
    grid::throughput_payload<64>();
    grid::throughput_payload<256>();
}

}  // namespace que_bench
