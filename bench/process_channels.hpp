// bench/process_channels.hpp — every contender between two processes, behind
// one interface so the fork harness treats them alike:
//
//   using message_type; static constexpr const char* name;
//   transport();            in the parent, before fork: what both inherit (fds, names)
//   void enter(role);       after fork, in each process: open this side's ends
//   void send(const M&);    parent -> child for the parent, child -> parent for the child
//   void recv(M&);          the other direction
//
// Two directions because the round-trip benchmark needs a way back; the
// throughput benchmark only uses parent -> child. Every kernel mechanism is
// used the way an application would: one send call per message, blocking
// calls (the kernel sleeps and wakes the other side). Stream transports (pipe,
// SOCK_STREAM) let the reader take whatever bytes are available in one read
// and hand out messages from its buffer, which is how a stream reader is
// written and the kindest way to measure it.
//
// Errors in the hot path abort: a benchmark that silently measured a failing
// transport would publish nonsense.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

#include "common.hpp"

#if QUE_BENCH_HAVE_QUE_SHM
#include <que/que.hpp>
#endif
#if QUE_BENCH_HAVE_BOOST_INTERPROCESS
#include <boost/interprocess/ipc/message_queue.hpp>
#endif
#if QUE_BENCH_HAVE_ZMQ
#include <zmq.h>
#endif

namespace que_bench {

enum class role { parent, child };

[[noreturn]] inline void transport_failure(const char* who, const char* what, int err) {
    std::fprintf(stderr, "que_bench: %s: %s: %s\n", who, what, std::strerror(err));
    std::abort();
}

// A name no other run or benchmark uses: pid of the parent and a counter.
inline std::string unique_name(const char* kind) {
    static std::atomic<unsigned> serial{0};
    return std::string("que-bench-") + kind + "-" + std::to_string(::getpid()) + "-" + std::to_string(serial++);
}

// ---------------------------------------------------------------- fd helpers

inline void write_all(int fd, const void* data, std::size_t n, const char* who) {
    const char* p = static_cast<const char*>(data);
    while (n != 0) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            transport_failure(who, "write", errno);
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
}

// Reads a byte stream in large chunks and hands out fixed-size messages.
class stream_reader {
public:
    explicit stream_reader(int fd = -1) : fd_(fd), buf_(new char[capacity]) {}

    void read_exact(void* out, std::size_t n, const char* who) {
        while (end_ - begin_ < n) {
            if (begin_ != 0) {  // keep the partial message at the front
                std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
                end_ -= begin_;
                begin_ = 0;
            }
            const ssize_t r = ::read(fd_, buf_.get() + end_, capacity - end_);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) transport_failure(who, "read", r == 0 ? EPIPE : errno);
            end_ += static_cast<std::size_t>(r);
        }
        std::memcpy(out, buf_.get() + begin_, n);
        begin_ += n;
    }

private:
    static constexpr std::size_t capacity = 1 << 16;  // the default pipe size: one read can drain a full pipe
    int fd_;
    std::unique_ptr<char[]> buf_;
    std::size_t begin_ = 0, end_ = 0;
};

inline void close_fd(int& fd) noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

// ---------------------------------------------------------------- que over shm

#if QUE_BENCH_HAVE_QUE_SHM
template <class M, std::size_t N, bool Huge = false>
class que_shm {
public:
    using message_type = M;
    static constexpr const char* name = Huge ? "que_shm_huge" : "que_shm";

    que_shm() : there_(unique_name("there")), back_(unique_name("back")) {
        // A stale segment from a crashed run would be joined otherwise. On
        // huge pages this also fails early, with the reason, when no
        // hugetlbfs is mounted.
        que::shm_remove(backing(there_));
        que::shm_remove(backing(back_));
    }
    ~que_shm() {
        // The parent owns the names (it outlives the child): remove them so
        // /dev/shm and the huge-page pool do not fill up over a run. The
        // mappings stay valid until the handles go.
        if (owner_) {
            std::error_code ec;
            que::shm_remove(backing(there_), ec);
            que::shm_remove(backing(back_), ec);
        }
    }

    void enter(role r) {
        owner_ = r == role::parent;
        // Either side may open first; the library makes joining race-free.
        if (r == role::parent) {
            tx_ = que::spsc::producer<M, N>::open(backing(there_));
            rx_ = que::spsc::consumer<M, N>::open(backing(back_));
        } else {
            rx_ = que::spsc::consumer<M, N>::open(backing(there_));
            tx_ = que::spsc::producer<M, N>::open(backing(back_));
        }
    }
    void send(const M& m) noexcept { push_or_abort(tx_, m, name); }
    void recv(M& m) noexcept { m = rx_.pop(); }

private:
    static que::shm backing(const std::string& n) {
        if constexpr (Huge) return que::shm{n, {.pages = que::page_size::huge_2m}};
        else return que::shm{n};
    }

    std::string there_, back_;
    bool owner_ = true;  // the parent made the names; the child never runs destructors (_exit)
    que::spsc::producer<M, N> tx_;
    que::spsc::consumer<M, N> rx_;
};
#endif

// ---------------------------------------------------------------- pipe

// Two pipes, one per direction, sized to the ring (F_SETPIPE_SZ).
template <class M, std::size_t N>
class pipe_transport {
public:
    using message_type = M;
    static constexpr const char* name = "pipe";

    pipe_transport() {
        if (::pipe2(there_, O_CLOEXEC) != 0 || ::pipe2(back_, O_CLOEXEC) != 0)
            throw std::system_error(errno, std::system_category(), "pipe2");
        const int bytes = static_cast<int>(std::max<std::size_t>(N * sizeof(M), 4096));
        ::fcntl(there_[1], F_SETPIPE_SZ, bytes);
        ::fcntl(back_[1], F_SETPIPE_SZ, bytes);
    }
    ~pipe_transport() {
        for (int* fd : {&there_[0], &there_[1], &back_[0], &back_[1]}) close_fd(*fd);
    }

    void enter(role r) {
        if (r == role::parent) {
            close_fd(there_[0]);
            close_fd(back_[1]);
            out_ = there_[1];
            in_ = stream_reader(back_[0]);
        } else {
            close_fd(there_[1]);
            close_fd(back_[0]);
            out_ = back_[1];
            in_ = stream_reader(there_[0]);
        }
    }
    void send(const M& m) { write_all(out_, &m, sizeof m, name); }
    void recv(M& m) { in_.read_exact(&m, sizeof m, name); }

private:
    int there_[2] = {-1, -1}, back_[2] = {-1, -1};
    int out_ = -1;
    stream_reader in_;
};

// ---------------------------------------------------------------- Unix sockets

// A socketpair carries both directions. SOCK_STREAM is read in bulk like the
// pipe; SOCK_SEQPACKET keeps message boundaries, one recv per message. Socket
// buffers stay at the kernel's defaults, what an application gets.
template <class M, std::size_t N, int Type>
class unix_socket {
public:
    using message_type = M;
    static constexpr const char* name = Type == SOCK_STREAM ? "unix_stream" : "unix_seqpacket";

    unix_socket() {
        if (::socketpair(AF_UNIX, Type | SOCK_CLOEXEC, 0, fds_) != 0)
            throw std::system_error(errno, std::system_category(), "socketpair");
    }
    ~unix_socket() {
        close_fd(fds_[0]);
        close_fd(fds_[1]);
    }

    void enter(role r) {
        const int mine = r == role::parent ? 0 : 1;
        close_fd(fds_[1 - mine]);
        fd_ = fds_[mine];
        in_ = stream_reader(fd_);
    }
    void send(const M& m) {
        if constexpr (Type == SOCK_STREAM) {
            write_all(fd_, &m, sizeof m, name);
        } else {
            for (;;) {
                const ssize_t w = ::send(fd_, &m, sizeof m, 0);
                if (w == static_cast<ssize_t>(sizeof m)) return;
                if (w < 0 && errno == EINTR) continue;
                transport_failure(name, "send", w < 0 ? errno : EMSGSIZE);
            }
        }
    }
    void recv(M& m) {
        if constexpr (Type == SOCK_STREAM) {
            in_.read_exact(&m, sizeof m, name);
        } else {
            for (;;) {
                const ssize_t r = ::recv(fd_, &m, sizeof m, 0);
                if (r == static_cast<ssize_t>(sizeof m)) return;
                if (r < 0 && errno == EINTR) continue;
                transport_failure(name, "recv", r < 0 ? errno : EMSGSIZE);
            }
        }
    }

private:
    int fds_[2] = {-1, -1};
    int fd_ = -1;
    stream_reader in_;
};

// ---------------------------------------------------------------- boost

#if QUE_BENCH_HAVE_BOOST_INTERPROCESS
// boost::interprocess::message_queue: a queue in shared memory under a
// process-shared mutex and condition variables. The parent creates both
// queues (N messages each); the child opens them by name.
template <class M, std::size_t N>
class boost_mq {
public:
    using message_type = M;
    static constexpr const char* name = "boost_mq";
    using mq = boost::interprocess::message_queue;

    boost_mq() : there_name_(unique_name("mq-there")), back_name_(unique_name("mq-back")) {
        mq::remove(there_name_.c_str());
        mq::remove(back_name_.c_str());
        mq(boost::interprocess::create_only, there_name_.c_str(), N, sizeof(M));
        mq(boost::interprocess::create_only, back_name_.c_str(), N, sizeof(M));
    }
    ~boost_mq() {
        out_.reset();
        in_.reset();
        if (owner_) {
            mq::remove(there_name_.c_str());
            mq::remove(back_name_.c_str());
        }
    }

    void enter(role r) {
        owner_ = r == role::parent;
        const std::string& out = r == role::parent ? there_name_ : back_name_;
        const std::string& in = r == role::parent ? back_name_ : there_name_;
        out_.emplace(boost::interprocess::open_only, out.c_str());
        in_.emplace(boost::interprocess::open_only, in.c_str());
    }
    void send(const M& m) { out_->send(&m, sizeof m, 0); }
    void recv(M& m) {
        mq::size_type got = 0;
        unsigned priority = 0;
        in_->receive(&m, sizeof m, got, priority);
        if (got != sizeof m) transport_failure(name, "receive", EMSGSIZE);
    }

private:
    std::string there_name_, back_name_;
    bool owner_ = true;  // until enter(): the parent created the names
    std::optional<mq> out_, in_;
};
#endif

// ---------------------------------------------------------------- ZeroMQ

#if QUE_BENCH_HAVE_ZMQ
// ZeroMQ PUSH/PULL over ipc://, one pair of sockets per direction; the
// parent binds, the child connects. High-water marks are set to the ring's
// slot count so it is bounded like the others. Each process makes its own
// context after fork (ZeroMQ contexts do not survive fork); its I/O thread
// inherits the process's CPU, as it would in an application pinned this way.
template <class M, std::size_t N>
class zmq_ipc {
public:
    using message_type = M;
    static constexpr const char* name = "zmq_ipc";

    zmq_ipc() : there_path_("/tmp/" + unique_name("zmq-there")), back_path_("/tmp/" + unique_name("zmq-back")) {
        there_ = "ipc://" + there_path_;
        back_ = "ipc://" + back_path_;
    }
    ~zmq_ipc() {
        for (void* s : {out_, in_})
            if (s) {
                int zero = 0;
                zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
                zmq_close(s);
            }
        if (ctx_) zmq_ctx_term(ctx_);
        // ZeroMQ does not always unlink the socket files of bound endpoints.
        ::unlink(there_path_.c_str());
        ::unlink(back_path_.c_str());
    }

    void enter(role r) {
        ctx_ = zmq_ctx_new();
        if (!ctx_) throw std::runtime_error("zmq_ctx_new failed");
        out_ = socket(ZMQ_PUSH, ZMQ_SNDHWM);
        in_ = socket(ZMQ_PULL, ZMQ_RCVHWM);
        if (r == role::parent) {
            attach(zmq_bind(out_, there_.c_str()), "zmq_bind");
            attach(zmq_bind(in_, back_.c_str()), "zmq_bind");
        } else {
            attach(zmq_connect(in_, there_.c_str()), "zmq_connect");
            attach(zmq_connect(out_, back_.c_str()), "zmq_connect");
        }
    }
    void send(const M& m) {
        while (zmq_send(out_, &m, sizeof m, 0) != static_cast<int>(sizeof m))
            if (zmq_errno() != EINTR) transport_failure(name, "zmq_send", zmq_errno());
    }
    void recv(M& m) {
        for (;;) {
            const int r = zmq_recv(in_, &m, sizeof m, 0);
            if (r == static_cast<int>(sizeof m)) return;
            if (r < 0 && zmq_errno() == EINTR) continue;
            transport_failure(name, "zmq_recv", r < 0 ? zmq_errno() : EMSGSIZE);
        }
    }

private:
    void* socket(int type, int hwm_option) {
        void* s = zmq_socket(ctx_, type);
        if (!s) throw std::runtime_error(std::string("zmq_socket: ") + zmq_strerror(zmq_errno()));
        const int hwm = static_cast<int>(N);
        zmq_setsockopt(s, hwm_option, &hwm, sizeof hwm);
        return s;
    }
    static void attach(int rc, const char* what) {
        if (rc != 0) throw std::runtime_error(std::string(what) + ": " + zmq_strerror(zmq_errno()));
    }

    std::string there_path_, back_path_, there_, back_;
    void* ctx_ = nullptr;
    void* out_ = nullptr;
    void* in_ = nullptr;
};
#endif

}  // namespace que_bench
