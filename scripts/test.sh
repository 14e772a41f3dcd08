#!/usr/bin/env bash
# scripts/test.sh — que's whole check, from a fresh Debian 12 machine:
# installs what is missing (apt-get), then for each of the presets release,
# asan (+UBSan), tsan and clang (release with clang++-14) configures, builds
# (-j2, warnings as errors) and runs ctest; fails if any stage fails, and
# prints one summary line per stage.
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    the release preset only (for development)
#   scripts/test.sh --no-install   never call apt-get (fail if something is missing)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

quick=0
install=1
for arg in "$@"; do
    case "$arg" in
    --quick) quick=1 ;;
    --no-install) install=0 ;;
    -h | --help)
        sed -n '2,10p' "$0"
        exit 0
        ;;
    *)
        echo "test.sh: unknown argument '$arg' (try --help)" >&2
        exit 2
        ;;
    esac
done

# --- Packages -------------------------------------------------------------------
packages=(
    cmake ninja-build g++ catch2 libbenchmark-dev
    libboost-dev libreaderwriterqueue-dev libatomic-queue-dev libzmq3-dev
    spin clang-14 libclang-rt-14-dev g++-aarch64-linux-gnu qemu-user
    util-linux procps
)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    if ((!install)); then
        echo "test.sh: missing packages: ${missing[*]} (and --no-install given)" >&2
        exit 1
    fi
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    echo "test.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# --- Stages ---------------------------------------------------------------------
summary=()
failed=0
total_passed=0 total_failed=0 total_skipped=0
start_all=$(date +%s)

# TSan's shadow memory needs a fixed address layout; on kernels with many bits of
# mmap randomisation a TSan binary dies at start with "unexpected memory mapping".
# Probe once; if it does, run the tsan build (its test discovery runs the test
# binaries) and ctest with address randomisation off for those processes only.
tsan_prefix=()
tsan_probe_dir=$(mktemp -d)
trap 'rm -rf "$tsan_probe_dir"' EXIT
printf 'int main() { return 0; }\n' >"$tsan_probe_dir/probe.cpp"
if g++ -fsanitize=thread "$tsan_probe_dir/probe.cpp" -o "$tsan_probe_dir/probe" 2>/dev/null &&
    ! "$tsan_probe_dir/probe" >/dev/null 2>&1; then
    echo "test.sh: TSan binaries fail to start on this kernel; running tsan under setarch -R"
    tsan_prefix=(setarch "$(uname -m)" -R)
fi

# run_preset NAME [command prefix...]: configure, build and test one preset.
run_preset() {
    local preset=$1
    shift
    local prefix=("$@")
    local dir="build/$preset" t0 t1 t2 result="PASS" tests="" log
    mkdir -p "$dir"
    log="$dir/test-sh.log"
    echo "=== $preset: configure + build"
    t0=$(date +%s)
    # Benchmarks are built and run by scripts/bench.sh, not here: their peers
    # (boost, ZeroMQ, Google Benchmark) would add minutes to every stage.
    if ! { cmake --preset "$preset" -DQUE_WARNINGS_AS_ERRORS=ON -DQUE_BUILD_BENCHMARKS=OFF &&
        "${prefix[@]}" cmake --build --preset "$preset" -j2; }; then
        t1=$(date +%s)
        summary+=("$(printf '%-8s FAIL  build failed after %ds' "$preset" $((t1 - t0)))")
        failed=1
        return 0
    fi
    t1=$(date +%s)
    echo "=== $preset: ctest"
    # pipefail: ctest's status counts, tee only keeps the log for the summary.
    if ! "${prefix[@]}" ctest --preset "$preset" 2>&1 | tee "$log"; then
        result="FAIL"
        failed=1
    fi
    t2=$(date +%s)
    tests=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1 || true)
    local skipped nfail nall
    skipped=$(grep -c "(Skipped)" "$log" || true)
    if [[ $tests =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
        nfail=${BASH_REMATCH[1]}
        nall=${BASH_REMATCH[2]}
        total_failed=$((total_failed + nfail))
        total_passed=$((total_passed + nall - nfail - skipped))
        total_skipped=$((total_skipped + skipped))
    fi
    summary+=("$(printf '%-8s %s  build %4ds  ctest %4ds  %s; %s skipped' "$preset" "$result" $((t1 - t0)) $((t2 - t1)) "${tests:-no ctest summary}" "$skipped")")
}

# run_script NAME PATH: an extra stage written by someone else, run if present.
run_script() {
    local name=$1 script=$2 t0 t1 result="PASS"
    echo "=== $name: $script"
    t0=$(date +%s)
    if ! "$script"; then
        result="FAIL"
        failed=1
    fi
    t1=$(date +%s)
    summary+=("$(printf '%-8s %s  %4ds  (%s)' "$name" "$result" $((t1 - t0)) "$script")")
}

run_preset release
if ((!quick)); then
    run_preset asan
    run_preset tsan "${tsan_prefix[@]}"
    # The whole suite again with clang++-14 (Debian's clang): what a clang
    # user of que meets, e.g. clang < 16 rejecting lambdas that capture
    # structured bindings. Nothing skipped.
    run_preset clang

    # ---- Extra stages --------------------------------------------------------
    # Other stages plug in here: each runs only if its script exists and is
    # executable, and counts like a preset (a failure fails test.sh).
    if [ -x scripts/test-aarch64.sh ]; then run_script aarch64 scripts/test-aarch64.sh; fi
    if [ -x scripts/fuzz.sh ]; then run_script fuzz scripts/fuzz.sh; fi
    # ---- end of extra stages -------------------------------------------------
fi

end_all=$(date +%s)
echo
echo "=== test.sh summary ($(($end_all - start_all)) s)"
for line in "${summary[@]}"; do echo "test.sh: $line"; done
if ((failed)); then
    echo "test.sh: FAILED"
else
    echo "test.sh: all stages passed"
fi
# One plain closing line over every ctest stage (Skipped tests are not passed).
echo "ctest: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit $failed
