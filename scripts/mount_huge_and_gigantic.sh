#!/usr/bin/env bash
# scripts/mount_huge_and_gigantic.sh [-g GROUP] [-m MODE] [-s SIZE] [-u] — mount
# hugetlbfs where que::shm looks for it by default:
#
#   /mnt/que-huge-2m   hugetlbfs, pagesize=2M   (que::page_size::huge_2m)
#   /mnt/que-huge-1g   hugetlbfs, pagesize=1G   (que::page_size::gigantic_1g)
#
#   -g GROUP  the mounts' group: members of GROUP may create and use segments
#             there (default: root's group only)
#   -m MODE   the mounts' mode (default 1770: owner root and GROUP may create
#             files, the sticky bit lets only a file's owner remove it; nobody
#             else may even look). 1777 (world-writable, the old default) lets
#             ANY local user take every reserved huge page and keep it after
#             exiting (files on hugetlbfs hold their pages until removed):
#             give it only on a machine without untrusted users.
#   -s SIZE   the most huge page memory files in each mount may hold
#             (hugetlbfs size=, e.g. 4G or 50%; default: no limit beyond the
#             pool). Caps what the members of GROUP can take together.
#   -u        unmount both, but only hugetlbfs mounts found there (anything
#             else mounted at those paths is reported and left alone), and
#             remove the directories if empty.
#
# Idempotent: a directory that already has a hugetlbfs of the right page size,
# mode and group is left alone; one with anything else mounted on it (or the
# right hugetlbfs with another mode or group) is an error. Mounting uses no
# memory: reserve the pages with scripts/hp.sh and scripts/gp.sh. Needs root.
# QUE_HUGE_DIR_2M / QUE_HUGE_DIR_1G override the two paths (tests use them).
set -euo pipefail

me=mount_huge_and_gigantic.sh
fail() { echo "$me: $*" >&2; exit 1; }
say() { echo "$me: $*"; }
usage() { echo "usage: $0 [-g GROUP] [-m MODE] [-s SIZE] [-u]" >&2; exit 2; }

unmount=0 group="" mode=1770 size=""
while getopts "g:m:s:uh" opt; do
  case $opt in
  g) group=$OPTARG ;;
  m) mode=$OPTARG ;;
  s) size=$OPTARG ;;
  u) unmount=1 ;;
  *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || usage
[[ $mode =~ ^[0-7]{3,4}$ ]] || fail "-m $mode: give an octal mode such as 1770"
[ -z "$size" ] || [[ $size =~ ^[0-9]+[KkMmGg%]?$ ]] || fail "-s $size: give a size such as 4G or 50%"
[ "$(id -u)" -eq 0 ] || fail "must run as root (mount needs CAP_SYS_ADMIN)"
gid=0
if [ -n "$group" ]; then
  gid=$(getent group "$group" | cut -d: -f3) || true
  [ -n "$gid" ] || fail "-g $group: no such group"
fi
mode=$(printf '%o' "$((8#$mode))")  # canonical, as stat prints it

# dir  pagesize-option  bytes  kernel pool directory
mounts=(
  "${QUE_HUGE_DIR_2M:-/mnt/que-huge-2m} 2M 2097152 /sys/kernel/mm/hugepages/hugepages-2048kB"
  "${QUE_HUGE_DIR_1G:-/mnt/que-huge-1g} 1G 1073741824 /sys/kernel/mm/hugepages/hugepages-1048576kB"
)

# The filesystem type mounted exactly at $1 ("" when nothing is).
mounted_type() { { findmnt -n -o FSTYPE --mountpoint "$1" 2>/dev/null || true; } | tail -1; }

status=0
for entry in "${mounts[@]}"; do
  read -r dir opt bytes pool <<<"$entry"
  type=$(mounted_type "$dir")
  if [ $unmount -eq 1 ]; then
    if [ -z "$type" ]; then
      say "$dir: not mounted, nothing to do"
    elif [ "$type" != hugetlbfs ]; then
      echo "$me: $dir has a $type mount, not hugetlbfs: left alone" >&2
      status=1
      continue
    else
      # Only the hugetlbfs mounts, innermost first, until none is left.
      while [ "$(mounted_type "$dir")" = hugetlbfs ]; do
        umount "$dir" || { echo "$me: cannot unmount $dir" >&2; status=1; break; }
      done
      say "unmounted $dir"
      [ -z "$(mounted_type "$dir")" ] || { echo "$me: $dir: a $(mounted_type "$dir") mount is still there: left alone" >&2; status=1; continue; }
    fi
    [ -d "$dir" ] && rmdir "$dir" 2>/dev/null || true
    continue
  fi
  if [ ! -d "$pool" ]; then
    say "skipping $dir: this kernel/CPU has no $opt huge pages ($pool missing)"
    continue
  fi
  if [ -n "$type" ]; then
    bsize=$(stat -f -c %S "$dir")
    have_mode=$(stat -c %a "$dir")
    have_gid=$(stat -c %g "$dir")
    if [ "$type" != hugetlbfs ] || [ "$bsize" != "$bytes" ]; then
      echo "$me: $dir has a $type mount with block size $bsize, not hugetlbfs pagesize=$opt" >&2
      status=1
    elif [ "$have_mode" != "$mode" ] || [ "$have_gid" != "$gid" ]; then
      echo "$me: $dir: hugetlbfs pagesize=$opt is mounted with mode $have_mode gid $have_gid, not $mode gid $gid (unmount it with -u first)" >&2
      status=1
    else
      say "$dir: hugetlbfs pagesize=$opt mode $mode gid $gid already mounted, left alone"
    fi
    continue
  fi
  mkdir -p "$dir"
  options="pagesize=$opt,mode=$mode,uid=0,gid=$gid${size:+,size=$size}"
  if mount -t hugetlbfs -o "$options" none "$dir"; then
    say "mounted hugetlbfs $options on $dir"
  else
    echo "$me: mount -t hugetlbfs -o $options none $dir failed" >&2
    status=1
  fi
done
exit $status
