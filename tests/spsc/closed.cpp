// tests/spsc/closed.cpp — a closed stream is loud, never quiet (issue 13,
// point 7): after its own close() a producer sends nothing and says so, and
// `T pop()`, which has no way to report an ended stream, does not make up a
// message: it calls que::fatal, which prints why and aborts (checked in a
// forked child: its stderr and its SIGABRT).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include <catch2/catch.hpp>
#include <que/spsc.hpp>

namespace {

using namespace std::chrono_literals;

struct msg {
    std::uint64_t seq;
    std::uint64_t check;  // ~seq: a fabricated all-zero message fails it
};

// Runs `body` in a forked child with stderr sent to a pipe; returns the
// child's wait status and what it wrote to stderr.
template <class F>
std::pair<int, std::string> run_child(F&& body) {
    int err[2];
    REQUIRE(::pipe(err) == 0);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::signal(SIGABRT, SIG_DFL);  // Catch2's handler would report the abort as this test's failure
        ::close(err[0]);
        ::dup2(err[1], 2);
        body();
        ::_exit(0);  // body returned: pop() returned something
    }
    ::close(err[1]);
    std::string text;
    char buf[512];
    for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
    ::close(err[0]);
    // qemu-user (scripts/test-aarch64.sh) reports the child's abort on the
    // same stderr: "qemu: uncaught target signal 6 (Aborted) - core dumped".
    // That line is the emulator's, not que's: drop it.
    if (const auto at = text.find("qemu: uncaught target signal"); at != std::string::npos) {
        const auto end = text.find('\n', at);
        text.erase(at, end == std::string::npos ? std::string::npos : end - at + 1);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return {status, text};
}

TEST_CASE("spsc closed: a producer sends nothing after its own close(), and says so", "[spsc][closed]") {
    auto [tx, rx] = que::spsc::make<msg, 64>();
    REQUIRE(tx.try_push(msg{0, ~0ull}));
    REQUIRE(tx.push(msg{1, ~1ull}) == que::status::ok);
    auto claim = tx.claim(4);
    REQUIRE(claim.size() == 4);
    tx.close();
    // Room in the ring, and still refused: every way of sending.
    CHECK_FALSE(tx.try_push(msg{2, ~2ull}));
    CHECK(tx.push(msg{2, ~2ull}) == que::status::closed);
    CHECK(tx.push_for(msg{2, ~2ull}, 10ms) == que::status::closed);
    CHECK(tx.push_until(msg{2, ~2ull}, std::chrono::steady_clock::now() + 10ms) == que::status::closed);
    const std::array<msg, 3> batch{msg{2, ~2ull}, msg{3, ~3ull}, msg{4, ~4ull}};
    CHECK(tx.try_push(std::span<const msg>(batch)) == 0);
    CHECK(tx.claim(4).empty());
    tx.commit(4);  // the claim made before close() publishes nothing
    CHECK(tx.closed());
    CHECK(tx.size() == 2);
    // The consumer gets exactly what was sent before close(), then closed.
    msg got{};
    for (std::uint64_t i = 0; i < 2; ++i) {
        REQUIRE(rx.pop(got) == que::status::ok);
        CHECK(got.seq == i);
        CHECK(got.check == ~i);
    }
    CHECK(rx.pop(got) == que::status::closed);
    CHECK_FALSE(rx.try_pop(got));
}

TEST_CASE("spsc closed: a reopened stream (a new producer) sends again", "[spsc][closed]") {
    const std::string name = "que-test-" + std::to_string(::getpid()) + "-reopen";
    que::shm_remove(name);
    {
        auto rx = que::spsc::consumer<msg, 64>::open(que::shm{name, {.remove_on_close = true}});
        {
            auto tx = que::spsc::producer<msg, 64>::open(que::shm{name});
            REQUIRE(tx.try_push(msg{0, ~0ull}));
            tx.close();
            CHECK_FALSE(tx.try_push(msg{1, ~1ull}));
        }
        auto tx2 = que::spsc::producer<msg, 64>::open(que::shm{name});
        CHECK(tx2.try_push(msg{1, ~1ull}));
        msg got{};
        for (std::uint64_t i = 0; i < 2; ++i) {
            REQUIRE(rx.try_pop(got));
            CHECK(got.seq == i);
        }
    }
}

TEST_CASE("spsc closed: T pop() on a closed, drained stream aborts with a message instead of returning zeros", "[spsc][closed]") {
    auto [status, text] = run_child([] {
        auto [tx, rx] = que::spsc::make<msg, 64>();
        (void)tx.try_push(msg{5, ~5ull});
        tx.close();
        const msg first = rx.pop();  // the message sent before close(): delivered
        if (first.seq != 5 || first.check != ~5ull) ::_exit(3);
        const msg none = rx.pop();   // nothing left and closed: must not return
        std::fprintf(stderr, "pop() returned seq %llu check %llu\n", static_cast<unsigned long long>(none.seq),
                     static_cast<unsigned long long>(none.check));
        ::_exit(4);
    });
    INFO("child status " << status << ", stderr: " << text);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGABRT);
    CHECK(text == "que::spsc::consumer::pop(): the stream is closed (the producer closed it and every message was "
                  "received), so T pop() has no message to return; on a stream that can end use pop(T&) or pop_for, "
                  "which return status::closed\n");
}

TEST_CASE("spsc closed: T pop() after the producer's process died aborts with a message", "[spsc][closed]") {
    const std::string name = "que-test-" + std::to_string(::getpid()) + "-popdead";
    que::shm_remove(name);
    auto [status, text] = run_child([&] {
        auto rx = que::spsc::consumer<msg, 64>::open(que::shm{name, {.remove_on_close = true}});
        const pid_t producer = ::fork();
        if (producer == 0) {
            auto tx = que::spsc::producer<msg, 64>::open(que::shm{name});
            (void)tx.try_push(msg{9, ~9ull});
            ::_exit(0);  // no destructor: no close(), the role is left to a dead pid
        }
        int st = 0;
        ::waitpid(producer, &st, 0);
        const msg first = rx.pop();
        if (first.seq != 9 || first.check != ~9ull) ::_exit(3);
        (void)rx.pop();
        ::_exit(4);
    });
    que::shm_remove(name);
    INFO("child status " << status << ", stderr: " << text);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGABRT);
    CHECK(text.find("que::spsc::consumer::pop(): the producer's process died and every message it published was "
                    "received, so T pop() has no message to return") == 0);
}

// A handler of the user's: gets the message, then que aborts.
void note_to_stdout(const char* message) noexcept {
    std::printf("handler: %s\n", message);
    std::fflush(stdout);
}

TEST_CASE("spsc closed: set_fatal_handler's handler sees the message, and que still aborts", "[spsc][closed]") {
    int out[2];
    REQUIRE(::pipe(out) == 0);
    auto [status, text] = run_child([&] {
        ::close(out[0]);
        ::dup2(out[1], 1);
        const que::fatal_handler previous = que::set_fatal_handler(&note_to_stdout);
        if (previous == nullptr) ::_exit(5);
        auto [tx, rx] = que::spsc::make<msg, 64>();
        tx.close();
        (void)rx.pop();
        ::_exit(4);
    });
    ::close(out[1]);
    std::string printed;
    char buf[512];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) printed.append(buf, static_cast<std::size_t>(n));
    ::close(out[0]);
    INFO("child status " << status << ", stdout: " << printed << ", stderr: " << text);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGABRT);
    CHECK(printed.find("handler: que::spsc::consumer::pop(): the stream is closed") == 0);
    CHECK(text.empty());  // the default handler was replaced
}

} // namespace
