#!/usr/bin/env bash
# scripts/fuzz.sh — builds que's libFuzzer targets with clang++-14
# (-fsanitize=fuzzer,address,undefined) and fuzzes the shared-segment join
# path and the hot path's index handling (tests/fuzz/, docs/verification.md).
#
#   scripts/fuzz.sh                 fixed-count run: join and ops -runs=50000,
#                                   file -runs=20000 (it makes system calls per
#                                   input), from the committed corpus (a test.sh stage)
#   scripts/fuzz.sh --runs N        fixed-count run of N inputs per target
#                                   (at most 20000 for the file target)
#   scripts/fuzz.sh --long SECONDS  fuzz each target for SECONDS, keeping the
#                                   grown corpus in build/fuzz/corpus-<target>
#   scripts/fuzz.sh --no-install    never call apt-get
#
# Failing inputs are written to build/fuzz/tests/fuzz/<target>-crash-<sha1>
# (fixed-count run) or build/fuzz/artifacts/<target>-crash-<sha1> (--long);
# reproduce one with build/fuzz/tests/fuzz/que_fuzz_<target> <file>.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

runs=50000
long=0
install=1
while (($#)); do
    case "$1" in
    --runs) runs=$2; shift ;;
    --long) long=$2; shift ;;
    --no-install) install=0 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done

need=()
command -v clang++-14 >/dev/null || need+=(clang-14)
[ -n "$(find /usr/lib/llvm-14/lib/clang -name 'libclang_rt.fuzzer-x86_64.a' 2>/dev/null | head -1)" ] ||
    need+=(libclang-rt-14-dev)
[ -f /usr/include/catch2/catch.hpp ] || need+=(catch2)  # tests/CMakeLists.txt requires Catch2
if ((${#need[@]})); then
    if ((!install)); then
        echo "fuzz.sh: missing ${need[*]} (and --no-install given)" >&2
        exit 1
    fi
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    echo "fuzz.sh: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y --no-install-recommends "${need[@]}"
fi

dir=${QUE_FUZZ_BUILD_DIR:-build/fuzz}
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
if [ -f "$dir/CMakeCache.txt" ] && ! grep -q "CMAKE_CXX_COMPILER:.*clang++-14" "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
fi
t0=$(date +%s)
cmake -S . -B "$dir" "${generator[@]}" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DQUE_BUILD_BENCHMARKS=OFF -DQUE_BUILD_EXAMPLES=OFF -DQUE_WARNINGS_AS_ERRORS=ON \
    -DQUE_FUZZ_RUNS="$runs" -DQUE_FUZZ_FILE_RUNS="$((runs < 20000 ? runs : 20000))" >/dev/null
cmake --build "$dir" -j2 --target que_fuzz_join que_fuzz_ops que_fuzz_file
t1=$(date +%s)
mkdir -p "$dir/artifacts"

status=0
if ((long == 0)); then
    log="$dir/fuzz.log"
    ctest --test-dir "$dir" -L '^fuzz$' --output-on-failure --no-tests=error -V 2>&1 | tee "$log" >/dev/null ||
        status=$?
    grep -E "Test +#|Done [0-9]+ runs|ERROR|SUMMARY|tests passed" "$log" || true
else
    for t in join ops file; do
        case $t in join) seeds=tests/fuzz/corpus/raw ;; ops) seeds=tests/fuzz/corpus/ops ;; file) seeds=tests/fuzz/corpus/file ;; esac
        mkdir -p "$dir/corpus-$t"
        echo "=== fuzz.sh: $t for ${long}s"
        "$dir/tests/fuzz/que_fuzz_$t" -max_total_time="$long" -max_len=4096 -timeout=10 -print_final_stats=1 \
            -artifact_prefix="$dir/artifacts/$t-" "$dir/corpus-$t" "$seeds" >"$dir/fuzz-$t.log" 2>&1 || status=$?
        grep -E "Done [0-9]+ runs|stat::(number_of_executed_units|average_exec_per_sec|new_units_added)|ERROR|SUMMARY" \
            "$dir/fuzz-$t.log" || true
    done
fi
t2=$(date +%s)
echo "fuzz.sh: build $((t1 - t0))s, fuzzing $((t2 - t1))s: $([ $status -eq 0 ] && echo "no failure" ||
    echo "FAILED (inputs in $dir/tests/fuzz/*-crash-* or $dir/artifacts)")"
exit "$status"
