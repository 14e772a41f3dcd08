// tests/support/hugepage_pool.hpp — temporarily grow or empty the kernel's
// huge-page pool, and put it back.
//
//   que_test::hugepage_pool pool(2048);        // 2 MiB pool (1048576 for 1 GiB)
//   pool.available()                           // free, unreserved pages now
//   if (!pool.ensure_available(n, why)) QUE_SKIP(why);   // grows the pool (root only)
//   pool.drain(why)                            // leaves no free page (root only)
//   ~hugepage_pool()                           // undoes exactly what this object did
//
// Other tests (and other processes) may hold or reserve pages of the same pool at
// the same time, so this never writes an absolute value it computed earlier: it
// adds to / subtracts from the pool's *current* size by the amount it changed it.
// Tests that use it must still serialise with each other on the ctest resource
// lock "hugepages" (tests/CMakeLists.txt, que_add_catch_test RESOURCE_LOCK), since
// draining the pool would make a concurrent huge-page test fail.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace que_test {

class hugepage_pool {
public:
    explicit hugepage_pool(std::uint64_t page_kb)
        : dir_("/sys/kernel/mm/hugepages/hugepages-" + std::to_string(page_kb) + "kB/") {
        saved_overcommit_ = read("nr_overcommit_hugepages", overcommit_readable_);
    }
    hugepage_pool(const hugepage_pool&) = delete;
    hugepage_pool& operator=(const hugepage_pool&) = delete;

    ~hugepage_pool() {
        std::string ignored;
        if (added_ != 0 || removed_ != 0) {
            bool ok = false;
            const std::uint64_t now = read("nr_hugepages", ok);
            if (ok) {
                std::uint64_t target = now + removed_;
                target = target >= added_ ? target - added_ : 0;
                write("nr_hugepages", target, ignored);
            }
        }
        if (overcommit_changed_) write("nr_overcommit_hugepages", saved_overcommit_, ignored);
    }

    static bool is_root() noexcept { return ::geteuid() == 0; }

    // Does the kernel have a pool of this page size at all?
    bool exists() const {
        bool ok = false;
        read("nr_hugepages", ok);
        return ok;
    }

    std::uint64_t total() const { return value("nr_hugepages"); }
    // Pages a new mapping can get: free minus those promised to existing mappings.
    std::uint64_t available() const {
        const std::uint64_t free = value("free_hugepages"), resv = value("resv_hugepages");
        return free > resv ? free - resv : 0;
    }

    // Grows the pool until `n` pages are available. False with the reason in
    // `why` when not root or the kernel gives fewer (memory too fragmented).
    bool ensure_available(std::uint64_t n, std::string& why) {
        const std::uint64_t have = available();
        if (have >= n) return true;
        if (!is_root()) {
            why = "not root: cannot reserve huge pages in " + dir_ + " (have " + std::to_string(have) + ", need " +
                  std::to_string(n) + ")";
            return false;
        }
        const std::uint64_t before = total();
        if (!write("nr_hugepages", before + (n - have), why)) return false;
        const std::uint64_t after = total();
        added_ += after > before ? after - before : 0;
        if (available() < n) {
            why = "the kernel reserved only " + std::to_string(after - before) + " of " + std::to_string(n - have) +
                  " more pages in " + dir_ + " (memory fragmented?)";
            return false;
        }
        return true;
    }

    // Removes every available page from the pool (pages mapped by others stay)
    // and forbids surplus pages, so that a new huge mapping must fail.
    bool drain(std::string& why) {
        if (!is_root()) {
            why = "not root: cannot empty the huge page pool " + dir_;
            return available() == 0 && saved_overcommit_ == 0;
        }
        if (overcommit_readable_ && saved_overcommit_ != 0) {
            if (!write("nr_overcommit_hugepages", 0, why)) return false;
            overcommit_changed_ = true;
        }
        const std::uint64_t before = total(), free = available();
        if (free == 0) return true;
        if (!write("nr_hugepages", before - free, why)) return false;
        const std::uint64_t after = total();
        removed_ += before > after ? before - after : 0;
        if (available() != 0) {
            why = "could not empty " + dir_ + ": " + std::to_string(available()) + " pages still available";
            return false;
        }
        return true;
    }

private:
    std::uint64_t value(const char* name) const {
        bool ok = false;
        return read(name, ok);
    }
    std::uint64_t read(const char* name, bool& ok) const {
        ok = false;
        std::FILE* f = std::fopen((dir_ + name).c_str(), "r");
        if (f == nullptr) return 0;
        unsigned long long v = 0;
        ok = std::fscanf(f, "%llu", &v) == 1;
        std::fclose(f);
        return ok ? v : 0;
    }
    bool write(const char* name, std::uint64_t v, std::string& why) const {
        const std::string path = dir_ + name;
        std::FILE* f = std::fopen(path.c_str(), "w");
        if (f == nullptr) {
            why = "open " + path + ": " + std::strerror(errno);
            return false;
        }
        const bool printed = std::fprintf(f, "%llu\n", static_cast<unsigned long long>(v)) > 0;
        const int flush_errno = std::fflush(f) == 0 ? 0 : errno;
        std::fclose(f);
        if (!printed || flush_errno != 0) {
            why = "write " + std::to_string(v) + " to " + path + ": " + std::strerror(flush_errno);
            return false;
        }
        return true;
    }

    std::string dir_;
    std::uint64_t added_ = 0;    // pages this object added to the pool
    std::uint64_t removed_ = 0;  // pages this object took out of it
    std::uint64_t saved_overcommit_ = 0;
    bool overcommit_readable_ = false;
    bool overcommit_changed_ = false;
};

}  // namespace que_test
