#!/usr/bin/env bash
# tests/shm/scripts_test.sh SCRIPTS_DIR — checks scripts/hp.sh, scripts/gp.sh
# and scripts/mount_huge_and_gigantic.sh (issue 11, points 18 and 19):
#  - hp.sh N is decimal ("010" is ten, not eight) and sets the 2 MiB pool;
#  - bad arguments change nothing;
#  - a partial reservation is rolled back (a fake pool directory that acts as
#    a kernel reserving fewer pages than asked: a real one would have to be
#    starved of memory, which would starve everything else on the machine);
#  - the mount script mounts 1770 (not world-writable) by default, honours
#    -g/-m/-s, is idempotent, and -u unmounts only hugetlbfs.
# Run as root (it changes the 2 MiB pool and mounts); it puts every pool and
# mount back as it found them, whatever happens. ctest holds the "hugepages"
# resource lock for it.
set -euo pipefail

scripts=${1:?usage: scripts_test.sh SCRIPTS_DIR}
if [ "$(id -u)" -ne 0 ]; then
  echo "QUE_TEST_SKIPPED: not root: cannot change huge page pools or mount hugetlbfs"
  exit 0
fi
pool2m=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
pool1g=/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages
if [ ! -f $pool2m ]; then
  echo "QUE_TEST_SKIPPED: this kernel has no 2 MiB huge page pool"
  exit 0
fi
saved2m=$(cat $pool2m)
saved1g=$(cat $pool1g 2>/dev/null || echo "")
tmp=$(mktemp -d /tmp/que-scripts-test-XXXXXX)
h2=$tmp/h2 h1=$tmp/h1
restore() {
  for d in "$h2" "$h1"; do
    while findmnt --mountpoint "$d" >/dev/null 2>&1; do umount "$d" || break; done
  done
  echo "$saved2m" >$pool2m || true
  if [ -n "$saved1g" ]; then echo "$saved1g" >$pool1g || true; fi
  rm -rf "$tmp"
  echo "restored: 2 MiB pool $(cat $pool2m) (was $saved2m)${saved1g:+, 1 GiB pool $(cat $pool1g) (was $saved1g)}"
}
trap restore EXIT

failures=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; failures=$((failures + 1)); fi
}
pool_is() { [ "$(cat "$1")" = "$2" ]; }
exits() {  # exits CODE COMMAND...: the command's exit status is CODE
  local want=$1 rc=0
  shift
  "$@" >"$tmp/out" 2>&1 || rc=$?
  [ "$rc" = "$want" ] || { echo "  exit $rc, not $want:"; sed 's/^/  | /' "$tmp/out"; return 1; }
}

# ---- hp.sh on the real 2 MiB pool (20 MiB at most) -------------------------
check "hp.sh 010 succeeds" exits 0 "$scripts/hp.sh" 010
check "hp.sh 010 reserves ten 2 MiB pages (decimal, not octal 8)" pool_is $pool2m 10
if [ -n "$saved1g" ]; then check "hp.sh leaves the 1 GiB pool alone" pool_is $pool1g "$saved1g"; fi
check "hp.sh 0003 reserves three" exits 0 "$scripts/hp.sh" 0003
check "  ... pool is 3" pool_is $pool2m 3
for bad in abc -1 1.5 0x10 "" "1 2" 9999999999999; do
  check "hp.sh '$bad' is refused (usage, exit 2)" exits 2 "$scripts/hp.sh" "$bad"
  check "  ... and changes nothing" pool_is $pool2m 3
done
check "hp.sh with no argument is refused" exits 2 "$scripts/hp.sh"
check "hp.sh 0 gives the pages back" exits 0 "$scripts/hp.sh" 0
check "  ... pool is 0" pool_is $pool2m 0
check "gp.sh 00 (an empty 1 GiB pool) succeeds" exits 0 "$scripts/gp.sh" 00

# ---- a kernel that reserves fewer than asked: nothing partial kept ----------
fake=$tmp/fake
for kb in 2048 1048576; do
  mkdir -p "$fake/hugepages-${kb}kB"
  echo 3 >"$fake/hugepages-${kb}kB/nr_hugepages"
  echo 3 >"$fake/hugepages-${kb}kB/free_hugepages"
done
for tool in hp.sh:2048 gp.sh:1048576; do
  t=${tool%%:*} kb=${tool##*:}
  knob=$fake/hugepages-${kb}kB/nr_hugepages
  check "$t 8 on a kernel that gives only 5: fails" \
    exits 1 env QUE_HUGEPAGES_SYSFS="$fake" QUE_HUGEPAGES_TEST_CAP=5 "$scripts/$t" 8
  check "  ... and puts the previous 3 back (not a partial 5)" pool_is "$knob" 3
  check "$t 4 on the same kernel: succeeds" \
    exits 0 env QUE_HUGEPAGES_SYSFS="$fake" QUE_HUGEPAGES_TEST_CAP=5 "$scripts/$t" 4
  check "  ... pool is 4" pool_is "$knob" 4
done

# ---- mount_huge_and_gigantic.sh, on directories of our own ------------------
mh() { env QUE_HUGE_DIR_2M="$h2" QUE_HUGE_DIR_1G="$h1" "$scripts/mount_huge_and_gigantic.sh" "$@"; }
fstype() { findmnt -n -o FSTYPE --mountpoint "$1" 2>/dev/null | tail -1; }
check "mounts by default" exits 0 mh
check "  ... a hugetlbfs of 2 MiB pages at the 2M path" test "$(fstype "$h2")" = hugetlbfs
check "  ... mode 1770, not world-writable" test "$(stat -c %a "$h2")" = 1770
check "  ... group root" test "$(stat -c %g "$h2")" = 0
check "again: left alone (idempotent)" exits 0 mh
check "again with another group: refused (mismatch)" exits 1 mh -g nogroup
check "-u unmounts" exits 0 mh -u
check "  ... nothing mounted there any more" test -z "$(fstype "$h2")"
check "  ... and the directory is gone" test ! -e "$h2"
check "-g nogroup -s 64M mounts" exits 0 mh -g nogroup -s 64M
check "  ... group nogroup" test "$(stat -c %g "$h2")" = "$(getent group nogroup | cut -d: -f3)"
check "  ... with size=64M" bash -c "findmnt -n -o OPTIONS --mountpoint '$h2' | grep -q 'size=67108864'"
check "-u" exits 0 mh -u
check "-m 1777 is honoured when asked for" exits 0 mh -m 1777
check "  ... mode 1777" test "$(stat -c %a "$h2")" = 1777
check "-u" exits 0 mh -u
check "a bad mode is refused" exits 1 mh -m 99
check "a bad size is refused" exits 1 mh -s lots
check "an unknown group is refused" exits 1 mh -g no-such-group-que
mkdir -p "$h2"
mount -t tmpfs -o size=1M none "$h2"
check "-u with a tmpfs at the path: fails" exits 1 mh -u
check "  ... and leaves the tmpfs mounted" test "$(fstype "$h2")" = tmpfs
umount "$h2"

echo "scripts_test: $failures failure(s)"
[ $failures -eq 0 ]
