#!/usr/bin/env bash
# Builds and runs tests/packaging/consumer against que consumed one of three ways:
#   run.sh subdir  SRC WORK CMAKE CXX   add_subdirectory() of the que source tree
#   run.sh install SRC WORK CMAKE CXX   cmake --install into WORK/prefix (refused before building,
#                                       headers-only component, then everything), then find_package(que)
#   run.sh plain   SRC WORK CMAKE CXX   include/que/ copied alone, plain `CXX -std=c++20 -I.`
# Everything is written under WORK (inside the build tree), never into SRC.
set -euo pipefail
mode=$1 src=$2 work=$3 cmake=$4 cxx=$5
consumer="$src/tests/packaging/consumer"
rm -rf "$work"
mkdir -p "$work"

case "$mode" in
subdir)
    "$cmake" -S "$consumer" -B "$work/build" -DQUE_SOURCE_DIR="$src" -DCMAKE_CXX_COMPILER="$cxx"
    "$cmake" --build "$work/build"
    "$work/build/que_consumer"
    ;;
install)
    # The tools component (que-inspect, the huge-page scripts) is on by default
    # at top level; examples and tests are not needed to get it.
    "$cmake" -S "$src" -B "$work/que-build" -DCMAKE_CXX_COMPILER="$cxx" \
        -DQUE_BUILD_TESTS=OFF -DQUE_BUILD_BENCHMARKS=OFF -DQUE_BUILD_EXAMPLES=OFF
    # 1. From a configure-only tree: refused before anything is installed,
    #    saying what to build first.
    if "$cmake" --install "$work/que-build" --prefix "$work/prefix" >"$work/early.log" 2>&1; then
        echo "cmake --install succeeded before que-inspect was built" >&2
        exit 1
    fi
    cat "$work/early.log"
    grep -q "que-inspect is not built yet, so nothing was installed" "$work/early.log"
    grep -q "cmake --build $work/que-build" "$work/early.log"
    grep -q -- "--component que_development" "$work/early.log"
    if [ -e "$work/prefix" ]; then
        echo "the refused install still installed something:" >&2
        find "$work/prefix" >&2
        exit 1
    fi
    # 2. The headers + CMake package alone need no build.
    "$cmake" --install "$work/que-build" --prefix "$work/prefix-dev" --component que_development
    test -f "$work/prefix-dev/include/que/que.hpp"
    test -f "$work/prefix-dev/lib/cmake/que/que-config.cmake" -o -f "$work/prefix-dev/lib64/cmake/que/que-config.cmake"
    test ! -e "$work/prefix-dev/bin/que-inspect"
    # 3. Build, install: headers, package, que-inspect and the scripts.
    "$cmake" --build "$work/que-build"
    "$cmake" --install "$work/que-build" --prefix "$work/prefix"
    test -f "$work/prefix/include/que/que.hpp"
    for s in hp.sh gp.sh mount_huge_and_gigantic.sh; do
        test -x "$work/prefix/share/que/scripts/$s" || { echo "not installed: share/que/scripts/$s" >&2; exit 1; }
    done
    test -x "$work/prefix/bin/que-inspect"
    # The installed que-inspect runs, and names the installed scripts.
    "$work/prefix/bin/que-inspect" --help >"$work/help.txt"
    cat "$work/help.txt"
    grep -qF "$work/prefix/share/que/scripts/hp.sh" "$work/help.txt"
    "$work/prefix/bin/que-inspect" --list --match "que-packaging-none-*" >/dev/null
    # Only the prefix, never the source tree, is visible to the consumer.
    "$cmake" -S "$consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_CXX_COMPILER="$cxx" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DQUE_EXPECT_TOOLS=ON
    "$cmake" --build "$work/build"
    if grep -q -- "-I$src/include" "$work/build/compile_commands.json"; then
        echo "consumer compiled against the source tree, not the install prefix" >&2
        exit 1
    fi
    "$work/build/que_consumer"
    ;;
plain)
    mkdir -p "$work/tree"
    cp -r "$src/include/que" "$work/tree/que"
    cp "$consumer/main.cpp" "$work/tree/main.cpp"
    cd "$work/tree"
    "$cxx" -std=c++20 -Wall -Wextra -Werror -I. main.cpp -o que_consumer
    ./que_consumer
    ;;
*)
    echo "usage: run.sh subdir|install|plain SRC WORK CMAKE CXX" >&2
    exit 2
    ;;
esac
