#!/usr/bin/env bash
# scripts/mount_huge_and_gigantic.sh [-u] — mount hugetlbfs where que::shm
# looks for it by default:
#
#   /mnt/que-huge-2m   hugetlbfs, pagesize=2M   (que::page_size::huge_2m)
#   /mnt/que-huge-1g   hugetlbfs, pagesize=1G   (que::page_size::gigantic_1g)
#
# Idempotent: a directory that already has the right mount is left alone; one
# with anything else mounted on it is an error. The mounts are mode 1777 (like
# /dev/shm: anyone may create a segment, only its owner may remove it; the
# segments themselves are 0600 by default). Mounting uses no memory: reserve
# the pages with scripts/hp.sh and scripts/gp.sh. With -u, unmounts both (and
# removes the directories if empty). Needs root.
set -euo pipefail

fail() { echo "mount_huge_and_gigantic.sh: $*" >&2; exit 1; }
say() { echo "mount_huge_and_gigantic.sh: $*"; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (mount needs CAP_SYS_ADMIN)"
unmount=0
if [ "${1:-}" = "-u" ]; then unmount=1; elif [ $# -gt 0 ]; then echo "usage: $0 [-u]" >&2; exit 2; fi

# dir  pagesize-option  bytes  kernel pool directory
mounts=(
  "/mnt/que-huge-2m 2M 2097152 /sys/kernel/mm/hugepages/hugepages-2048kB"
  "/mnt/que-huge-1g 1G 1073741824 /sys/kernel/mm/hugepages/hugepages-1048576kB"
)

status=0
for entry in "${mounts[@]}"; do
  read -r dir opt bytes pool <<<"$entry"
  if [ $unmount -eq 1 ]; then
    if mountpoint -q "$dir"; then
      umount "$dir" && say "unmounted $dir" || { echo "cannot unmount $dir" >&2; status=1; }
    else
      say "$dir: not mounted, nothing to do"
    fi
    [ -d "$dir" ] && rmdir "$dir" 2>/dev/null || true
    continue
  fi
  if [ ! -d "$pool" ]; then
    say "skipping $dir: this kernel/CPU has no $opt huge pages ($pool missing)"
    continue
  fi
  if mountpoint -q "$dir"; then
    type=$(stat -f -c %T "$dir")
    size=$(stat -f -c %S "$dir")
    if [ "$type" = hugetlbfs ] && [ "$size" = "$bytes" ]; then
      say "$dir: hugetlbfs pagesize=$opt already mounted, left alone"
    else
      echo "mount_huge_and_gigantic.sh: $dir has a $type mount with block size $size, not hugetlbfs pagesize=$opt" >&2
      status=1
    fi
    continue
  fi
  mkdir -p "$dir"
  if mount -t hugetlbfs -o "pagesize=$opt,mode=1777" none "$dir"; then
    say "mounted hugetlbfs pagesize=$opt on $dir"
  else
    echo "mount_huge_and_gigantic.sh: mount -t hugetlbfs -o pagesize=$opt none $dir failed" >&2
    status=1
  fi
done
exit $status
