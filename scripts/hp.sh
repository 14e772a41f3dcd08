#!/usr/bin/env bash
# scripts/hp.sh N — reserve N 2 MiB huge pages in the kernel's pool.
#
# Sets /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages to N (0 gives
# the free pages back) — the 2 MiB pool itself, whatever the machine's default
# huge page size (/proc/sys/vm/nr_hugepages is the default size's pool) — then
# reports what the kernel did. N is decimal ("010" is ten). If the kernel
# reserved fewer than N (memory too fragmented: try again after
# `echo 1 > /proc/sys/vm/compact_memory`, or reserve at boot with
# hugepages=N), the previous reservation is put back and hp.sh fails: it never
# leaves a partial reservation. Needs root. (scripts/huge_pool.sh does the work.)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/huge_pool.sh"
[ $# -eq 1 ] || { echo "usage: $0 N   (reserve N 2 MiB huge pages)" >&2; exit 2; }
hint="memory fragmented? try after 'echo 1 > /proc/sys/vm/compact_memory', or reserve at boot: hugepages=$1"
reserve_pool hp.sh 2048 "2 MiB" "$1"
