#!/usr/bin/env bash
# Builds and runs tests/packaging/consumer against que consumed one of three ways:
#   run.sh subdir  SRC WORK CMAKE CXX   add_subdirectory() of the que source tree
#   run.sh install SRC WORK CMAKE CXX   cmake --install into WORK/prefix, then find_package(que)
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
    "$cmake" -S "$src" -B "$work/que-build" -DCMAKE_CXX_COMPILER="$cxx" \
        -DQUE_BUILD_TESTS=OFF -DQUE_BUILD_BENCHMARKS=OFF -DQUE_BUILD_EXAMPLES=OFF
    "$cmake" --install "$work/que-build" --prefix "$work/prefix"
    test -f "$work/prefix/include/que/que.hpp"
    # Only the prefix, never the source tree, is visible to the consumer.
    "$cmake" -S "$consumer" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_CXX_COMPILER="$cxx" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
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
