// bench/tp_large.cpp — threads throughput grid for 1264 and 4096-byte payloads.
#include "throughput.hpp"

namespace que_bench {

void register_throughput_large() {
    grid::throughput_payload<1264>();
    grid::throughput_payload<4096>();
}

}  // namespace que_bench
