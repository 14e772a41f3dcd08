# cmake/aarch64-toolchain.cmake — cross-build que's test suite for 64-bit Arm
# and run it under qemu-user (scripts/test-aarch64.sh drives it).
#
# The point of this build is the memory model: x86 is TSO, so a missing
# acquire/release (a compiler-only barrier, a relaxed load that should be
# acquire) can pass every x86 run. AArch64 is weakly ordered; qemu-user
# translates its loads and stores to the host's, so it does not reproduce
# every reordering real Arm silicon does, but it does compile and execute the
# real aarch64 instruction sequences (ldar/stlr, ldaxr/stlxr, dmb), which
# catches x86-only code (inline asm, x86 intrinsics, pause) and layout or
# alignment assumptions.
#
# Debian packages: g++-aarch64-linux-gnu (compiler + libstdc++ in
# /usr/aarch64-linux-gnu) and qemu-user (qemu-aarch64).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Target libraries live under /usr/aarch64-linux-gnu; -L tells qemu where the
# dynamic loader and libstdc++ for the target are. Catch's
# catch_discover_tests and ctest both run test binaries through this.
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-L;/usr/aarch64-linux-gnu")

set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)   # host tools (ctest, python)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)    # target libraries only
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)    # never the host's /usr/include
# Packages: Catch2 v2 is header-only apart from its prebuilt (x86) main; its
# CMake config is found on the host, and cmake/aarch64-catch2.cmake replaces
# the prebuilt main with one compiled for the target.
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# Runs right after project(que) (not in try_compile projects) and before
# tests/ asks for Catch2.
set(CMAKE_PROJECT_que_INCLUDE ${CMAKE_CURRENT_LIST_DIR}/aarch64-catch2.cmake)
