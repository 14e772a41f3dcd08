# scripts/huge_pool.sh — sourced by hp.sh and gp.sh: set one of the kernel's
# huge page pools to a count, all or nothing.
#
#   reserve_pool TOOL PAGE_KB LABEL COUNT
#
# COUNT must be a decimal number (leading zeros are stripped, so "010" is ten:
# the kernel itself would read a leading 0 as octal). The pool is
# $QUE_HUGEPAGES_SYSFS/hugepages-<PAGE_KB>kB (QUE_HUGEPAGES_SYSFS defaults to
# /sys/kernel/mm/hugepages; tests/shm/scripts_test.sh points it elsewhere).
# When the kernel reserves fewer pages than asked (memory fragmented) or the
# write fails, the previous reservation is put back and the call fails: no
# partial reservation is left behind.
# QUE_HUGEPAGES_TEST_CAP=N (tests only, with a fake QUE_HUGEPAGES_SYSFS) acts
# as a kernel that reserves at most N pages.

reserve_pool() {
    local tool=$1 page_kb=$2 label=$3 arg=$4
    fail() { echo "$tool: $*" >&2; exit 1; }
    if ! [[ $arg =~ ^[0-9]+$ ]]; then
        echo "usage: $tool N   (reserve N $label huge pages; N a decimal number)" >&2
        exit 2
    fi
    local want=${arg#"${arg%%[!0]*}"}  # strip leading zeros
    want=${want:-0}
    ((${#want} <= 12)) || { echo "$tool: $arg pages is more than any machine has" >&2; exit 2; }
    local sysdir=${QUE_HUGEPAGES_SYSFS:-/sys/kernel/mm/hugepages}/hugepages-${page_kb}kB
    local knob=$sysdir/nr_hugepages
    [ -d "$sysdir" ] || fail "this kernel/CPU has no $label huge page pool ($sysdir missing)"
    [ -w "$knob" ] || [ "$(id -u)" -eq 0 ] || fail "must run as root to change $knob"

    local before got free
    before=$(cat "$knob")
    write_pool() {
        local n=$1
        if [ -n "${QUE_HUGEPAGES_TEST_CAP:-}" ] && ((n > QUE_HUGEPAGES_TEST_CAP)); then n=$QUE_HUGEPAGES_TEST_CAP; fi
        echo "$n" >"$knob"
    }
    restore() {
        if write_pool "$before" 2>/dev/null && [ "$(cat "$knob")" = "$before" ]; then
            echo "$tool: put the pool back to $before pages" >&2
        else
            echo "$tool: could not put the pool back to $before pages (now $(cat "$knob"))" >&2
        fi
    }
    if ! write_pool "$want" 2>/dev/null; then
        restore
        fail "writing $want to $knob failed"
    fi
    got=$(cat "$knob")
    free=$(cat "$sysdir/free_hugepages")
    echo "$tool: $label huge pages: asked $want, had $before, now $got ($free free)"
    if [ "$got" -lt "$want" ]; then
        restore
        fail "the kernel reserved only $got of $want $label pages: ${hint:-memory fragmented?}"
    fi
}
