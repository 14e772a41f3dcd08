// tests/support/skip.hpp — Catch2 v2 has no SKIP. A test that cannot run here
// (say the kernel refuses huge pages) says why with this marker; ctest's
// SKIP_REGULAR_EXPRESSION (see tests/CMakeLists.txt) then reports it Skipped
// rather than Passed, and the reason is in the test's output.
#pragma once

#include <catch2/catch.hpp>

#define QUE_SKIP(reason)                                   \
    do {                                                   \
        WARN("QUE_TEST_SKIPPED: " << reason);              \
        SUCCEED("skipped");                                \
        return;                                            \
    } while (false)
