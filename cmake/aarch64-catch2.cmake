# cmake/aarch64-catch2.cmake — Catch2 v2 for a cross build (included through
# CMAKE_PROJECT_que_INCLUDE by cmake/aarch64-toolchain.cmake).
#
# Debian's catch2 package ships the header (arch-independent) and
# libCatch2WithMain.a compiled for the host. Linking the latter into an
# aarch64 binary fails, so this defines both Catch2 targets itself before
# tests/CMakeLists.txt calls find_package(Catch2): the package's
# Catch2Targets.cmake then sees them defined and leaves them alone.
if(TARGET Catch2::Catch2)
  return()
endif()

find_path(QUE_CATCH2_INCLUDE catch2/catch.hpp PATHS /usr/include /usr/local/include
  NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
if(NOT QUE_CATCH2_INCLUDE)
  message(FATAL_ERROR "catch2/catch.hpp not found on the host (apt-get install catch2)")
endif()

# Expose only catch2/ — never the host's whole /usr/include (x86 glibc headers).
set(que_catch2_dir ${CMAKE_BINARY_DIR}/que-catch2-include)
file(MAKE_DIRECTORY ${que_catch2_dir})
file(CREATE_LINK ${QUE_CATCH2_INCLUDE}/catch2 ${que_catch2_dir}/catch2 SYMBOLIC)

add_library(Catch2::Catch2 INTERFACE IMPORTED GLOBAL)
set_target_properties(Catch2::Catch2 PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${que_catch2_dir})

set(que_catch2_main ${CMAKE_BINARY_DIR}/que-catch2-main.cpp)
file(WRITE ${que_catch2_main} "#define CATCH_CONFIG_MAIN\n#include <catch2/catch.hpp>\n")
add_library(que_catch2_main STATIC ${que_catch2_main})
target_link_libraries(que_catch2_main PUBLIC Catch2::Catch2)
target_compile_features(que_catch2_main PUBLIC cxx_std_20)
add_library(Catch2::Catch2WithMain ALIAS que_catch2_main)

# find_package(Catch2) skips Catch2Targets.cmake, and with it the line that
# puts Catch.cmake (catch_discover_tests) on the module path.
list(APPEND CMAKE_MODULE_PATH /usr/lib/cmake/Catch2)
