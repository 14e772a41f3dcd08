#!/usr/bin/env bash
# scripts/hp.sh N — reserve N 2 MiB huge pages in the kernel's pool.
#
# Sets /proc/sys/vm/nr_hugepages to N (0 gives the free pages back), then
# reports what the kernel actually did. Fails, saying so, if it reserved fewer
# than N (memory too fragmented: try again after
# `echo 1 > /proc/sys/vm/compact_memory`, or reserve at boot with hugepages=N).
# Needs root.
set -euo pipefail

fail() { echo "hp.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] && [[ $1 =~ ^[0-9]+$ ]] || { echo "usage: $0 N   (reserve N 2 MiB huge pages)" >&2; exit 2; }
want=$1
knob=/proc/sys/vm/nr_hugepages
sysdir=/sys/kernel/mm/hugepages/hugepages-2048kB
[ -w "$knob" ] || [ "$(id -u)" -eq 0 ] || fail "must run as root to change $knob"
[ -d "$sysdir" ] || fail "this kernel has no 2 MiB huge page pool ($sysdir missing)"

before=$(cat "$knob")
echo "$want" > "$knob" || fail "writing $want to $knob failed"
got=$(cat "$knob")
free=$(cat "$sysdir/free_hugepages")
echo "hp.sh: 2 MiB huge pages: asked $want, had $before, now $got ($free free)"
[ "$got" -ge "$want" ] || fail "the kernel reserved only $got of $want 2 MiB pages (memory fragmented?)"
