#!/usr/bin/env bash
# scripts/gp.sh N — reserve N 1 GiB ("gigantic") huge pages in the kernel's pool.
#
# Writes N (decimal: "010" is ten) to
# /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages and reports what
# the kernel did. A 1 GiB page needs 1 GiB of physically contiguous free
# memory, so at run time the kernel often gives fewer than asked: then the
# previous reservation is put back and gp.sh fails, saying so (reserving at
# boot with `hugepagesz=1G hugepages=N` always works). Needs root and a CPU
# with 1 GiB pages (pdpe1gb). (scripts/huge_pool.sh does the work.)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/huge_pool.sh"
[ $# -eq 1 ] || { echo "usage: $0 N   (reserve N 1 GiB huge pages)" >&2; exit 2; }
hint="not enough contiguous memory; reserve at boot: hugepagesz=1G hugepages=$1"
reserve_pool gp.sh 1048576 "1 GiB" "$1"
