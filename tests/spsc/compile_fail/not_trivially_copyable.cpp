// Must NOT compile: que channels carry only trivially copyable types (they are
// copied as bytes, possibly into another process). Built by ctest, which checks
// the error names the trivially-copyable requirement; with
// QUE_COMPILE_FAIL_VALID defined the same program uses a valid type and must
// build, proving the failure comes from the element type alone.
#include <que/spsc.hpp>

#include <string>
#include <tuple>

#ifdef QUE_COMPILE_FAIL_VALID
struct element_type {
    char text[16];
};
#else
struct element_type {
    std::string text;  // owns heap memory: not trivially copyable
};
#endif

int main() {
    // Naming the handle type (not only calling make) makes both gcc and clang
    // report the unsatisfied `element` concept and its trivially-copyable clause.
    que::spsc::producer<element_type, 8> tx;
    que::spsc::consumer<element_type, 8> rx;
    std::tie(tx, rx) = que::spsc::make<element_type, 8>();
    return tx && rx ? 0 : 1;
}
