#!/usr/bin/env bash
# scripts/bench.sh — build que's benchmarks, run them, render the charts.
#
#   scripts/bench.sh            full run (9 repetitions per benchmark, 23-31 min on 2 vCPUs)
#   scripts/bench.sh --quick    8 and 1264 B at one ring size, 5 repetitions (< 3 min)
#
# Options:
#   --quick               the short subset
#   --reps N              repetitions per benchmark (default 9, quick 5)
#   --min-time S          Google Benchmark minimum time per repetition, seconds
#                         (a plain number: Google Benchmark 1.7.1 rejects "0.2s")
#   --sections LIST       comma-separated subset of: throughput (all payloads) or
#                         throughput-8B ... throughput-4096B, latency, processes, spmc
#   --results DIR         where the JSON goes (default build-bench/results/<stamp>)
#   --resume              with --results DIR: skip the sections DIR already holds
#                         (finished with exit status 0); run the others into it
#   --charts DIR          where charts and results.md go (default docs/bench for a
#                         full run, docs/bench/quick for --quick, so a quick run
#                         never replaces the published full-run figures)
#   --wait-idle MIN       before each section, wait up to MIN minutes for the
#                         machine to go idle (other processes < 10% of a CPU)
#   --nice N              run que_bench at nice N (negative needs root), in a
#                         session of its own whose autogroup gets the same nice
#                         (with autogroups, plain nice only ranks processes of
#                         one session). On a machine shared with builds, -10
#                         gave two spinning threads ~80% of their CPUs against
#                         ~3 compilers per CPU, -19 ~96%; the others still run.
#                         The summary records the level used.
#   --no-install          do not apt-get missing packages
#   --no-plot             skip the charts
#
# What it does: installs missing packages (apt-get, only when missing),
# configures and builds a release build with -DQUE_BUILD_BENCHMARKS=ON in
# build-bench/, reserves 2 MiB huge pages for the huge-page rows (and gives
# them back afterwards), runs each section as one que_bench invocation with
# random interleaving of repetitions (so que, its peers and the limits share
# the same machine conditions), keeps every repetition in JSON, and renders
# PNG charts and a Markdown summary with scripts/plot_bench.py.
#
# Never run two of these at once: two throughput runs on 2 CPUs measure each
# other (a lock makes a second one refuse to start). Runs taken while other
# builds use the CPUs are noisy; the summary records the load, the CPU time
# others used and the placement probes so a reader can tell. A run that was
# interrupted continues with: scripts/bench.sh --results DIR --resume
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build-bench"

orig_args="$*"
quick=0
reps=""
min_time=""
sections="throughput,latency,processes,spmc"
results=""
charts=""
install=1
plot=1
wait_idle=0
nice_level=0
resume=0

usage() { sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --reps) reps=$2; shift ;;
    --min-time) min_time=$2; shift ;;
    --sections) sections=$2; shift ;;
    --results) results=$2; shift ;;
    --charts) charts=$2; shift ;;
    --wait-idle) wait_idle=$2; shift ;;
    --nice) nice_level=$2; shift ;;
    --resume) resume=1 ;;
    --no-install) install=0 ;;
    --no-plot) plot=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

lock=/tmp/que-bench.lock
exec 9> "$lock"
if ! flock -n 9; then
  echo "bench.sh: another scripts/bench.sh holds $lock; two runs would measure each other" >&2
  exit 1
fi

if [[ $quick == 1 ]]; then
  reps=${reps:-5}
  min_time=${min_time:-0.1}
else
  reps=${reps:-9}
  min_time=${min_time:-0.2}
fi
if [[ -z $charts ]]; then
  charts="$root/docs/bench"
  [[ $quick == 1 ]] && charts="$root/docs/bench/quick"
fi
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=${results:-"$build/results/$stamp"}

log() { printf '\n== %s\n' "$*"; }

# ------------------------------------------------------------ packages
if [[ $install == 1 ]]; then
  wanted=(cmake g++ libbenchmark-dev libboost-dev libreaderwriterqueue-dev libatomic-queue-dev libzmq3-dev python3-matplotlib)
  missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing ${missing[*]}"
    if [[ $(id -u) == 0 ]]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    else
      echo "bench.sh: missing ${missing[*]}; run as root or install them" >&2
      exit 1
    fi
  fi
fi

# ------------------------------------------------------------ build
log "configuring $build"
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DQUE_BUILD_BENCHMARKS=ON -DQUE_BUILD_TESTS=OFF -DQUE_BUILD_EXAMPLES=OFF)
if grep -q QUE_BUILD_BENCHMARKS "$root/CMakeLists.txt" 2>/dev/null; then
  cmake -S "$root" -B "$build" "${cmake_args[@]}" | grep -E "que bench|Error|error" || true
else
  # A tree whose top level does not (yet) know the option: a stand-in top
  # level that defines que::que over include/ and adds bench/.
  standalone="$build/standalone-src"
  mkdir -p "$standalone"
  cat > "$standalone/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.20)
project(que_bench_standalone LANGUAGES CXX)
find_package(Threads REQUIRED)
add_library(que INTERFACE)
add_library(que::que ALIAS que)
target_include_directories(que INTERFACE "$root/include")
target_compile_features(que INTERFACE cxx_std_20)
target_link_libraries(que INTERFACE Threads::Threads)
add_subdirectory("$root/bench" bench)
EOF
  cmake -S "$standalone" -B "$build" -DCMAKE_BUILD_TYPE=Release | grep -E "que bench|Error|error" || true
fi
log "building que_bench"
cmake --build "$build" --target que_bench -j "$(nproc)"
bin="$build/bench/que_bench"
[[ -x $bin ]] || { echo "bench.sh: $bin was not built" >&2; exit 1; }

# ------------------------------------------------------------ huge pages
# The huge-page rows need 2 MiB pages in the pool (a 64 MiB ring takes 33)
# and, between processes, a hugetlbfs mount where que looks by default
# (/mnt/que-huge-2m). As root, reserve and mount what is missing; on exit
# give back exactly what this script added. Without them those rows are
# reported as skipped, with the reason.
hp_file=/proc/sys/vm/nr_hugepages
hp_before=""
hp_mount=/mnt/que-huge-2m
mounted=0
made_dir=0
restore() {
  rm -f "${times_file:-}" "${times_file:-}.before" "${times_file:-}.after"
  if [[ $mounted == 1 ]]; then umount "$hp_mount" 2>/dev/null || true; fi
  if [[ $made_dir == 1 ]]; then rmdir "$hp_mount" 2>/dev/null || true; fi
  if [[ -n $hp_before ]]; then echo "$hp_before" > "$hp_file" 2>/dev/null || true; fi
}
trap restore EXIT
if [[ $(id -u) == 0 && -w $hp_file ]]; then
  free_now=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
  if (( free_now < 80 )); then
    hp_before=$(cat "$hp_file")
    echo $(( hp_before + 80 - free_now )) > "$hp_file" || true
  fi
  if ! awk -v m="$hp_mount" '$2 == m && $3 == "hugetlbfs" {found=1} END {exit !found}' /proc/mounts; then
    [[ -d $hp_mount ]] || { mkdir -p "$hp_mount" && made_dir=1; }
    mount -t hugetlbfs -o pagesize=2M none "$hp_mount" && mounted=1 || true
  fi
fi
hp_free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
hugetlbfs=$(awk '$3 == "hugetlbfs" {print $2}' /proc/mounts | tr '\n' ' ')

# ------------------------------------------------------------ run
mkdir -p "$results"
# One que_bench invocation per section. Throughput is split by payload size so
# that each invocation is short (2-3 minutes): on a shared machine a short
# section is more likely to fit between other people's builds (and an
# interrupted run loses less: see --resume). Every ratio the summary quotes is
# taken within one section: each throughput section carries its own memcpy
# limits, the latency section the ping-pong limit, the processes section que
# between threads.
declare -A filters
if [[ $quick == 1 ]]; then
  for p in 8 1264; do
    filters[throughput-${p}B]="^(tp/[^/]+|limit_memcpy)/${p}B/64KiB"
  done
  filters[latency]='^(rtt/[^/]+/8B|limit_pingpong)'
  filters[processes]='^(proc_tp/[^/]+/(8|1264)B/|proc_rtt/[^/]+/8B)'
  filters[spmc]='^spmc/'
  throughput_sections="throughput-8B,throughput-1264B"
else
  for p in 8 64 256 1264 4096; do
    filters[throughput-${p}B]="^(tp/[^/]+|limit_memcpy)/${p}B/"
  done
  filters[latency]='^(rtt/|limit_pingpong)'
  filters[processes]='^proc_'
  filters[spmc]='^spmc/'
  throughput_sections="throughput-8B,throughput-64B,throughput-256B,throughput-1264B,throughput-4096B"
fi
# "throughput" stands for all its payload sections; "throughput-<n>B" for one.
expanded=""
IFS=',' read -r -a asked <<< "$sections"
for section in "${asked[@]}"; do
  [[ $section == throughput ]] && section=$throughput_sections
  expanded="${expanded:+$expanded,}$section"
done
sections=$expanded

{
  echo "{"
  echo "  \"stamp\": \"$stamp\","
  echo "  \"mode\": \"$([[ $quick == 1 ]] && echo quick || echo full)\","
  echo "  \"repetitions\": $reps,"
  echo "  \"min_time\": $min_time,"
  echo "  \"nice\": $nice_level,"
  echo "  \"command\": \"scripts/bench.sh${orig_args:+ $orig_args}\","
  echo "  \"git\": \"$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$root" diff --quiet HEAD -- include 2>/dev/null || echo ' (include/ modified)')\","
  echo "  \"que_headers_sha256\": \"$(cd "$root" && find include -type f -name '*.hpp' | sort | xargs sha256sum | sha256sum | cut -c1-16)\","
  echo "  \"hugepages_free\": ${hp_free:-0},"
  echo "  \"hugetlbfs\": \"${hugetlbfs% }\","
  echo "  \"lscpu\": $(lscpu | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')"
  echo "}"
} > "$results/run.json.new"
# A resumed run (--resume) keeps the first invocation's run information;
# every invocation's command line is kept in commands.txt.
if [[ -f $results/meta.json ]]; then rm -f "$results/run.json.new"; else mv "$results/run.json.new" "$results/meta.json"; fi
echo "$(date -u +%FT%TZ) scripts/bench.sh${orig_args:+ $orig_args}" >> "$results/commands.txt"

# System-wide CPU ticks (busy, steal) from /proc/stat, in USER_HZ.
cpu_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $9}' /proc/stat; }
# CPU seconds used so far by this shell's finished children (bash `times`,
# run in this shell: in a $(...) subshell it would see only its own children).
times_file=$(mktemp)
children_cpu() {
  times > "$times_file"
  tail -1 "$times_file" | awk '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } print t }'
}
hz=$(getconf CLK_TCK)
# Fraction of one CPU that everything on the machine used over 2 seconds
# (nothing of ours runs while this samples).
busy_fraction() {
  local a b
  a=$(cpu_ticks); sleep 2; b=$(cpu_ticks)
  awk -v a="${a%% *}" -v b="${b%% *}" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz / 2 }'
}

failed=""
IFS=',' read -r -a wanted_sections <<< "$sections"
for section in "${wanted_sections[@]}"; do
  filter=${filters[$section]:-}
  [[ -n $filter ]] || { echo "bench.sh: unknown section $section" >&2; exit 2; }
  if [[ $resume == 1 && -f $results/$section.meta.json ]] && grep -q '"exit_status": 0' "$results/$section.meta.json"; then
    echo "bench.sh: $section already measured in $results; skipped (--resume)"
    continue
  fi
  if [[ $wait_idle != 0 ]]; then
    deadline=$(( $(date +%s) + wait_idle * 60 ))
    while :; do
      busy=$(busy_fraction)
      awk -v b="$busy" 'BEGIN { exit !(b < 0.10) }' && break
      (( $(date +%s) < deadline )) || { echo "bench.sh: machine still busy ($busy CPUs in use); measuring anyway"; break; }
      echo "bench.sh: waiting for the machine to go idle ($busy CPUs in use by others)"
      sleep 10
    done
  fi
  log "$section: filter '$filter', $reps repetitions, min time $min_time s"
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  ticks_before=$(cpu_ticks)
  children_cpu > "$times_file.before"
  ours_before=$(cat "$times_file.before")
  t0=$(date +%s.%N)
  section_status=0
  # setsid: a new session gets a new autogroup, so the autogroup nice below
  # applies to que_bench alone, not to whoever started this script.
  setsid -w bash -c 'echo "$1" > /proc/self/autogroup 2>/dev/null; n=$1; shift; exec nice -n "$n" "$@"' _ \
    "$nice_level" "$bin" \
    --benchmark_filter="$filter" \
    --benchmark_repetitions="$reps" \
    --benchmark_min_time="$min_time" \
    --benchmark_enable_random_interleaving=true \
    --benchmark_display_aggregates_only=true \
    --benchmark_counters_tabular=true \
    --benchmark_out="$results/$section.json" \
    --benchmark_out_format=json || section_status=$?
  if [[ $section_status != 0 ]]; then
    echo "bench.sh: section $section failed (exit $section_status); continuing with the others" >&2
    failed="${failed:+$failed }$section"
  fi
  t1=$(date +%s.%N)
  ticks_after=$(cpu_ticks)
  children_cpu > "$times_file.after"
  ours_after=$(cat "$times_file.after")
  load_after=$(cut -d' ' -f1-3 /proc/loadavg)
  # Noise evidence: CPU used by every other process during the section, in
  # CPUs (0 = we had the machine, 2 = someone else used both CPUs as much
  # again), and the hypervisor's steal time.
  read -r others steal <<< "$(awk -v b0="${ticks_before%% *}" -v b1="${ticks_after%% *}" \
      -v s0="${ticks_before##* }" -v s1="${ticks_after##* }" -v o0="$ours_before" -v o1="$ours_after" \
      -v t0="$t0" -v t1="$t1" -v hz="$hz" 'BEGIN {
        wall = t1 - t0; busy = (b1 - b0) / hz; ours = o1 - o0; other = busy - ours; if (other < 0) other = 0
        printf "%.2f %.3f", other / wall, (s1 - s0) / hz / wall }')"
  busy_now=$(ps -eo pcpu,comm --sort=-pcpu --no-headers | awk '$2 != "que_bench" && $2 != "ps" {n[$2] += $1} END {for (c in n) if (n[c] >= 5) printf "%s %.0f%%\n", c, n[c]}' | sort -k2 -rn | head -5 | paste -sd, -)
  printf '{"section": "%s", "exit_status": %d, "started": "%s", "seconds": %.0f, "nice": %d, "loadavg_before": "%s", "loadavg_after": "%s", "other_cpus": %s, "steal_cpus": %s, "busy_processes_after": "%s"}\n' \
    "$section" "$section_status" "$(date -u -d "@${t0%.*}" +%FT%TZ)" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
    "$nice_level" "$load_before" "$load_after" "$others" "$steal" "$busy_now" > "$results/$section.meta.json"
done
log "results in $results"

# ------------------------------------------------------------ charts
if [[ $plot == 1 ]]; then
  log "charts into $charts"
  # Debian's matplotlib lives in the system interpreter; a python3 earlier on
  # PATH (pyenv, a venv) may not have it.
  py=python3
  for candidate in /usr/bin/python3 python3; do
    if "$candidate" -c 'import matplotlib' 2>/dev/null; then py=$candidate; break; fi
  done
  "$py" "$root/scripts/plot_bench.py" --results "$results" --out "$charts"
fi
if [[ -n $failed ]]; then
  echo "bench.sh: these sections failed: $failed" >&2
  exit 1
fi
