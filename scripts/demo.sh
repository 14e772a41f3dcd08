#!/usr/bin/env bash
# scripts/demo.sh — que's main job, end to end, on a fresh Debian 12 machine:
#
#   1. installs what the build needs (cmake, g++; apt-get only if missing),
#   2. builds the examples in Release (build-demo/),
#   3. moves 10^7 messages of 8 bytes and 10^7 of 1264 bytes between two
#      processes over shared memory (consumer pinned to CPU 1, producer to
#      CPU 0), the consumer checking every message's sequence number and body,
#   4. the same between two threads of one process, for comparison,
#   5. the same on 2 MiB huge pages when they can be had: as root it reserves
#      them (scripts/hp.sh) and mounts hugetlbfs (scripts/mount_huge_and_gigantic.sh),
#      and puts the machine back as it found it afterwards.
#
# Prints messages/s and GB/s for each run and exits non-zero if any message was
# lost, duplicated, reordered or damaged. Environment: QUE_DEMO_COUNT (default
# 10000000), QUE_DEMO_BUILD (default <repo>/build-demo), QUE_DEMO_TIMEOUT
# (seconds per run, default 120).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build=${QUE_DEMO_BUILD:-$repo/build-demo}
count=${QUE_DEMO_COUNT:-10000000}
per_run=${QUE_DEMO_TIMEOUT:-120}
is_root=0; [ "$(id -u)" -eq 0 ] && is_root=1

say() { printf '\n== %s\n' "$*"; }
fail() { echo "demo.sh: $*" >&2; exit 1; }

# ---------------------------------------------------------------- 1. tools
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v taskset >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  [ $is_root -eq 1 ] || fail "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------- 2. build
say "building the examples (Release) in $build"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DQUE_BUILD_TESTS=OFF \
  -DQUE_BUILD_BENCHMARKS=OFF -DQUE_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" -j2 --target spsc_threads shm_producer shm_consumer hugepages >/dev/null
bin=$build/examples

cpus=$(nproc)
pin_p=(); pin_c=()
if [ "$cpus" -ge 2 ]; then
  pin_p=(taskset -c 0); pin_c=(taskset -c 1)
else
  echo "demo.sh: only $cpus CPU: running unpinned (figures will be poor)"
fi

results=()
failures=0

# Two processes over que::shm: the consumer (CPU 1) and the producer (CPU 0).
processes() {  # size [--huge]
  local size=$1; shift
  local name="que-demo-$$-$size${1:+-huge}"
  local out; out=$(mktemp)
  timeout "$per_run" "${pin_c[@]}" "$bin/shm_consumer" "$name" "$count" "$size" "$@" >"$out" &
  local consumer=$!
  if ! timeout "$per_run" "${pin_p[@]}" "$bin/shm_producer" "$name" "$count" "$size" "$@" >/dev/null; then
    echo "demo.sh: producer failed ($name)" >&2
    failures=$((failures + 1))
  fi
  if ! wait "$consumer"; then
    echo "demo.sh: consumer failed or found bad messages ($name)" >&2
    failures=$((failures + 1))
  fi
  cat "$out"; results+=("$(cat "$out")"); rm -f "$out"
  # The consumer removes the name; if it was killed, do it here.
  rm -f "/dev/shm/$name" "/mnt/que-huge-2m/$name" 2>/dev/null || true
}

# The same in one process: producer thread on CPU 0, consumer thread on CPU 1.
threads() {  # size [--huge]
  local out
  if out=$(timeout "$per_run" "$bin/spsc_threads" "$count" "$@"); then :; else
    echo "demo.sh: spsc_threads $count $* failed" >&2
    failures=$((failures + 1))
  fi
  echo "$out"; results+=("$(echo "$out" | tail -1)" "  $(echo "$out" | grep '^limit:' || true)")
}

# ---------------------------------------------------------------- 3, 4. standard pages
for size in 8 1264; do
  say "$count messages of $size bytes: two processes over shared memory, then two threads"
  processes "$size"
  threads "$size"
done

# ---------------------------------------------------------------- 5. huge pages
huge_dir=/mnt/que-huge-2m
pool=/proc/sys/vm/nr_hugepages
saved_pages=""
mounted_here=0
restore() {
  if [ $mounted_here -eq 1 ]; then umount "$huge_dir" 2>/dev/null && rmdir "$huge_dir" 2>/dev/null || true; fi
  if [ -n "$saved_pages" ]; then echo "$saved_pages" > "$pool" || true; fi
}
trap restore EXIT

huge_ok=0
if [ $is_root -eq 1 ] && [ -d /sys/kernel/mm/hugepages/hugepages-2048kB ]; then
  say "huge pages: reserving and mounting (restored on exit)"
  saved_pages=$(cat "$pool")
  free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
  # The largest ring (65536 x 8 bytes, 512 KiB) needs one 2 MiB page; a shared run
  # and a threaded run never overlap, so 8 free pages are plenty.
  if [ "$free" -ge 8 ] || "$here/hp.sh" $((saved_pages + 8 - free)); then
    if ! mountpoint -q "$huge_dir"; then
      mkdir -p "$huge_dir"
      mount -t hugetlbfs -o pagesize=2M,mode=1777 none "$huge_dir" && mounted_here=1
      echo "mounted hugetlbfs pagesize=2M on $huge_dir"
    fi
    [ "$(stat -f -c %T "$huge_dir")" = hugetlbfs ] && huge_ok=1
  fi
elif [ -d "$huge_dir" ] && [ "$(stat -f -c %T "$huge_dir" 2>/dev/null)" = hugetlbfs ] &&
     [ "$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)" -ge 3 ]; then
  huge_ok=1
fi
if [ $huge_ok -eq 1 ]; then
  for size in 8 1264; do
    say "$count messages of $size bytes on 2 MiB pages: two processes, then two threads"
    processes "$size" --huge
    threads "$size" --huge
  done
else
  say "huge pages: skipped (need root, or a hugetlbfs at $huge_dir and free 2 MiB pages: scripts/hp.sh, scripts/mount_huge_and_gigantic.sh)"
fi

say "summary (each line: one run; consumer-side time from first to last message)"
printf '%s\n' "${results[@]}"
[ $failures -eq 0 ] || fail "$failures run(s) failed"
echo "demo.sh: all runs delivered every message intact and in order"
