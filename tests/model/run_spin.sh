#!/bin/sh
# run_spin.sh -- generate, compile and run a SPIN verifier for one Promela model
# and check the verdict.
#
# usage: run_spin.sh [options] MODEL.pml
#   --expect verified     pass only if pan reports 0 errors and the search completed
#   --expect violation    pass only if pan reports >= 1 error (broken variants)
#   --match STRING        with --expect violation: the pan error line must contain
#                         STRING (fixed string), i.e. the intended property bites
#   --mode safety         (default) cc -DSAFETY -DNOCLAIM; pan checks assertions
#                         and invalid end states
#   --mode liveness       cc without -DSAFETY; pan -a -f (acceptance cycles under
#                         weak fairness) against the model's ltl formula
#   --ltl NAME            ltl formula to check in liveness mode (pan -N NAME)
#   -DNAME[=VALUE]        passed to spin's preprocessor (model configuration)
#   --depth N             pan -m N (default 100000)
#   --opt FLAG            optimisation for pan.c (default -O0: the models are
#                         small, compiling pan.c dominates; use -O2 for big runs)
#   --workdir DIR         scratch parent dir (default: $PWD); a fresh
#                         mktemp -d DIR/spin.XXXXXX is used and removed on success
#   --spin PATH           spin executable (default: $SPIN or spin)
#   --cc PATH             C compiler for pan.c (default: $CC or cc)
#   --keep                keep the scratch dir
# Nothing is written next to MODEL.pml: the model is copied into the scratch dir.
set -u

expect=verified
match=
mode=safety
ltl=
defines=
depth=100000
opt=-O0
workdir=$(pwd)
spin=${SPIN:-spin}
cc=${CC:-cc}
keep=0
model=

while [ $# -gt 0 ]; do
  case $1 in
    --expect)  expect=$2; shift 2 ;;
    --match)   match=$2; shift 2 ;;
    --mode)    mode=$2; shift 2 ;;
    --ltl)     ltl=$2; shift 2 ;;
    --depth)   depth=$2; shift 2 ;;
    --opt)     opt=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --spin)    spin=$2; shift 2 ;;
    --cc)      cc=$2; shift 2 ;;
    --keep)    keep=1; shift ;;
    -D*)       defines="$defines $1"; shift ;;
    -*)        echo "run_spin.sh: unknown option $1" >&2; exit 2 ;;
    *)         model=$1; shift ;;
  esac
done

case $expect in verified|violation) ;; *) echo "run_spin.sh: bad --expect $expect" >&2; exit 2 ;; esac
case $mode in safety|liveness) ;; *) echo "run_spin.sh: bad --mode $mode" >&2; exit 2 ;; esac
if [ -z "$model" ] || [ ! -f "$model" ]; then
  echo "run_spin.sh: model file missing: '$model'" >&2; exit 2
fi

mkdir -p "$workdir" || exit 2
workdir=$(cd "$workdir" && pwd) || exit 2
tmp=$(mktemp -d "$workdir/spin.XXXXXX") || exit 2
cp "$model" "$tmp/" || exit 2
name=$(basename "$model")

fail() {
  echo "FAIL: $*"
  echo "(scratch dir kept: $tmp)"
  exit 1
}

cd "$tmp" || exit 2
echo "model: $model$defines  mode: $mode  expect: $expect"

# shellcheck disable=SC2086
"$spin" $defines -a "$name" > spin.out 2>&1 || { cat spin.out; fail "spin -a failed"; }

if [ "$mode" = safety ]; then
  ccflags="$opt -DSAFETY -DNOCLAIM"
  panflags="-m$depth -w20"
else
  ccflags="$opt"
  panflags="-m$depth -w20 -a -f"
  [ -n "$ltl" ] && panflags="$panflags -N $ltl"
fi
# shellcheck disable=SC2086
"$cc" $ccflags -o pan pan.c > cc.out 2>&1 || { cat cc.out; fail "compiling pan.c failed"; }

# shellcheck disable=SC2086
./pan $panflags > pan.out 2>&1
panrc=$?

# summary: the verdict-relevant lines and the state counts
grep -E '^pan:|never claim|assertion violations|acceptance +cycles|invalid end states|State-vector|^ *[0-9.e+]+ states, stored|transitions \(' pan.out

errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.out | tail -n 1)
[ -n "$errors" ] || { cat pan.out; fail "could not parse pan output (rc $panrc)"; }

if grep -Eq 'max search depth too small|Search not completed|out of memory|aborting' pan.out; then
  incomplete=1
else
  incomplete=0
fi

if [ "$mode" = liveness ]; then
  grep -Eq 'acceptance +cycles.*\+ \(fairness enabled\)' pan.out \
    || fail "liveness run did not check acceptance cycles with fairness"
  grep -Eq 'never claim.*\+ \(' pan.out || fail "no never claim (ltl) in liveness run"
fi

if [ "$expect" = verified ]; then
  [ "$errors" -eq 0 ] || {
    echo "--- counterexample (spin -t):"
    # shellcheck disable=SC2086
    "$spin" -t $defines "$name" 2>&1 | tail -n 20
    fail "expected 0 errors, pan reported $errors"
  }
  [ "$incomplete" -eq 0 ] || fail "search did not complete (raise --depth / memory)"
  echo "PASS: verified, 0 errors, search completed"
else
  [ "$errors" -ge 1 ] || fail "broken variant NOT rejected: pan reported 0 errors"
  errline=$(grep -m1 '^pan:1:' pan.out)
  if [ -n "$match" ]; then
    printf '%s\n' "$errline" | grep -Fq -- "$match" \
      || fail "error found, but not the expected one (wanted '$match'): $errline"
  fi
  echo "--- counterexample tail (spin -t):"
  # shellcheck disable=SC2086
  "$spin" -t $defines "$name" 2>&1 | tail -n 8
  echo "PASS: broken variant rejected: $errline"
fi

cd "$workdir" || exit 0
if [ "$keep" -eq 1 ]; then
  echo "(scratch dir kept: $tmp)"
else
  rm -rf "$tmp"
fi
exit 0
