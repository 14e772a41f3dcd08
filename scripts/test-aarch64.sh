#!/usr/bin/env bash
# scripts/test-aarch64.sh — cross-builds que's test suite for aarch64
# (g++-aarch64-linux-gnu) and runs it under qemu-user, so that nothing
# x86-only hides in the code: x86 is TSO, so a compiler-only barrier or a
# relaxed access that needed acquire/release can pass every x86 run, and
# x86-only instructions or intrinsics would not even compile here.
#
#   scripts/test-aarch64.sh              configure, build, run (build/aarch64)
#   scripts/test-aarch64.sh --no-install never call apt-get
#   QUE_AARCH64_BUILD_DIR=dir            build somewhere else
#
# Excluded under qemu-user: hugepages (the kernel's pool is the host's
# business, nothing arch-specific), compile (compile-failure checks: the same
# front end as on x86), packaging (install + find_package, arch independent),
# model (spin), and wait: qemu-user fakes /proc/self/stat with the *calling
# thread's* start time (and the host's /proc/<pid>/stat differs from the
# child's own view by a tick), so the pid + start-time liveness check
# (detail/liveness.hpp) judges live peers dead there (docs/verification.md);
# tools (que-inspect judges holders the same way), and docs (the C++ blocks
# of README.md and docs/api.md: compiled the same on every arch).
# Tests run one at a time (-j1): qemu is slow, and a stress thread starved
# past the wait strategy's check_every would run that liveness check too.
# Stress counts are divided by 20 (QUE_TEST_SCALE_DIVISOR): qemu runs this
# code ~10-30x slower.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

install=1
for arg in "$@"; do
    case "$arg" in
    --no-install) install=0 ;;
    -h | --help)
        sed -n '2,24p' "$0"
        exit 0
        ;;
    *)
        echo "test-aarch64.sh: unknown argument '$arg'" >&2
        exit 2
        ;;
    esac
done

# Only what is missing, so a machine that has it all makes no apt call.
need=()
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
command -v cmake >/dev/null || need+=(cmake)
[ -f /usr/include/catch2/catch.hpp ] || need+=(catch2)
if ((${#need[@]})); then
    if ((!install)); then
        echo "test-aarch64.sh: missing ${need[*]} (and --no-install given)" >&2
        exit 1
    fi
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    echo "test-aarch64.sh: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y --no-install-recommends "${need[@]}"
fi

dir=${QUE_AARCH64_BUILD_DIR:-build/aarch64}
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
t0=$(date +%s)
# An existing cache from another toolchain cannot be switched in place.
if [ -f "$dir/CMakeCache.txt" ] && ! grep -q "aarch64-toolchain.cmake" "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
fi
# -O2, not the release preset's -O3: the reorderings worth finding are there
# at -O2 already, and the cross build is most of this stage's time.
cmake -S . -B "$dir" "${generator[@]}" \
    -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-toolchain.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DQUE_BUILD_BENCHMARKS=OFF -DQUE_BUILD_EXAMPLES=OFF \
    -DQUE_WARNINGS_AS_ERRORS=ON \
    -DQUE_TEST_SCALE_DIVISOR=20
# Building runs each Catch2 binary once under qemu to list its tests.
cmake --build "$dir" -j2
t1=$(date +%s)

log="$dir/test-aarch64.log"
status=0
# Labels and names: a Catch2 test with several labels keeps only its first
# one (shm_huge_tests is labelled just "shm"), so hugepages is matched by name too.
# By name as well: shm_one_name mounts hugetlbfs (hugepages); two cases judge
# a live peer by pid + start time, which qemu fakes (see "wait" above): the
# setup message naming another process's producer, and an spmc consumer
# asleep in pop when the producer closes (it saw peer_dead, not closed).
ctest --test-dir "$dir" -LE '^(hugepages|compile|packaging|model|wait|tools|docs)$' \
    -E '^(shm_huge_tests|que_spsc_hugepages|shm_one_name):|^shm_tests:setup message: a producer held by another process|^que_spmc_lifecycle:spmc close: a consumer asleep in pop' \
    --output-on-failure --no-tests=error -j1 --timeout 900 2>&1 | tee "$log" || status=$?
t2=$(date +%s)

summary=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1 || true)
if command -v file >/dev/null; then
    echo "test-aarch64.sh: test binaries are $(file -b "$dir/tests/soak/que_soak" | cut -d, -f1-2)"
fi
echo "test-aarch64.sh: build $((t1 - t0))s, ctest under qemu-aarch64 $((t2 - t1))s: ${summary:-no ctest summary}"
exit "$status"
