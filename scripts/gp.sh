#!/usr/bin/env bash
# scripts/gp.sh N — reserve N 1 GiB ("gigantic") huge pages in the kernel's pool.
#
# Writes N to /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages and
# reports what the kernel did. A 1 GiB page needs 1 GiB of physically
# contiguous free memory, so at run time the kernel often gives fewer than
# asked: this fails, saying so, in that case (reserving at boot with
# `hugepagesz=1G hugepages=N` always works). Needs root and a CPU with 1 GiB
# pages (pdpe1gb).
set -euo pipefail

fail() { echo "gp.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] && [[ $1 =~ ^[0-9]+$ ]] || { echo "usage: $0 N   (reserve N 1 GiB huge pages)" >&2; exit 2; }
want=$1
sysdir=/sys/kernel/mm/hugepages/hugepages-1048576kB
[ -d "$sysdir" ] || fail "this kernel/CPU has no 1 GiB huge page pool ($sysdir missing)"
[ "$(id -u)" -eq 0 ] || fail "must run as root to change $sysdir/nr_hugepages"

before=$(cat "$sysdir/nr_hugepages")
echo "$want" > "$sysdir/nr_hugepages" || fail "writing $want to $sysdir/nr_hugepages failed"
got=$(cat "$sysdir/nr_hugepages")
free=$(cat "$sysdir/free_hugepages")
echo "gp.sh: 1 GiB huge pages: asked $want, had $before, now $got ($free free)"
[ "$got" -ge "$want" ] || fail "the kernel reserved only $got of $want 1 GiB pages (not enough contiguous memory; reserve at boot: hugepagesz=1G hugepages=$want)"
