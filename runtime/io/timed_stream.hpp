// A connection's stream, client or upstream: its socket and its one timeout.
// `expires_after` bounds the operations that run until the next call, as Beast's
// tcp_stream does (a deadline that passes while one is pending closes the socket and the
// operation fails with beast::error::timeout; one that passes between operations fails
// the next), but the deadline is a node in the worker's timer tree, not three timers and
// a wait allocated per operation. A client connection waits for its next request with
// `async_peek`, holding no buffer; TLS waits for the socket as OpenSSL asks.
#pragma once

#include "runtime/core/net.hpp"
#include "runtime/core/timer_tree.hpp"

#include <boost/asio/io_context.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/intrusive/list_hook.hpp>

namespace ngxlite::runtime {

class TimedStream;

namespace detail {
// The caller's handler, told of a timeout as beast::error::timeout; the handler's
// executor, allocator and cancellation slot go with it (see the associator below).
template <class Handler>
struct TimedCompletion {
    TimedStream* stream;
    Handler handler;
    template <class... Results>
    void operator()(boost::system::error_code ec, Results... results);
};
}  // namespace detail

// A socket bound to its worker's io_context, not to a type-erased executor: the socket
// and each operation pending on it are the smaller for it.
using WorkerSocket = asio::basic_stream_socket<tcp, WorkerExecutor>;

// A client's stream is listed in its worker's idle list while it waits for a request.
using IdleListHook = boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

class TimedStream : private Timeout, public IdleListHook {
public:
    using executor_type = WorkerSocket::executor_type;

    TimedStream(WorkerSocket socket, TimerTree& timers) : Timeout(timers), socket_(std::move(socket)) {}

    executor_type get_executor() noexcept { return socket_.get_executor(); }
    WorkerSocket& socket() noexcept { return socket_; }
    TimerTree& timers() const noexcept { return Timeout::tree(); }

    void expires_after(Timeout::Clock::duration d) {
        timed_out_ = false;
        arm(d);
    }
    void expires_never() {
        timed_out_ = false;
        disarm();
    }
    // Leaves the worker's idle list.
    void unlist() { IdleListHook::unlink(); }
    void close() {
        boost::system::error_code ignored;
        socket_.close(ignored);
    }

    template <class Buffers, class Token>
    auto async_read_some(const Buffers& buffers, Token&& token) {
        return start<void(boost::system::error_code, std::size_t)>(
            [&buffers](WorkerSocket& s, auto handler) { s.async_read_some(buffers, std::move(handler)); }, std::forward<Token>(token));
    }
    template <class Buffers, class Token>
    auto async_write_some(const Buffers& buffers, Token&& token) {
        return start<void(boost::system::error_code, std::size_t)>(
            [&buffers](WorkerSocket& s, auto handler) { s.async_write_some(buffers, std::move(handler)); }, std::forward<Token>(token));
    }
    template <class Token>
    auto async_connect(const tcp::endpoint& peer, Token&& token) {
        return start<void(boost::system::error_code)>(
            [&peer](WorkerSocket& s, auto handler) { s.async_connect(peer, std::move(handler)); }, std::forward<Token>(token));
    }
    // Completes when bytes (or the end) can be read, copying the first ones without taking
    // them from the socket: unlike waiting for readable, which re-arms the socket in epoll
    // each time, a receive waits on its registration as it is.
    template <class Token>
    auto async_peek(asio::mutable_buffer into, Token&& token) {
        return start<void(boost::system::error_code, std::size_t)>(
            [into](WorkerSocket& s, auto handler) { s.async_receive(into, tcp::socket::message_peek, std::move(handler)); },
            std::forward<Token>(token));
    }
    // Completes when the socket is readable (a byte or the end is there) or writable,
    // holding no buffer meanwhile.
    template <class Token>
    auto async_wait(tcp::socket::wait_type what, Token&& token) {
        return start<void(boost::system::error_code)>(
            [what](WorkerSocket& s, auto handler) { s.async_wait(what, std::move(handler)); }, std::forward<Token>(token));
    }

private:
    template <class>
    friend struct detail::TimedCompletion;

    template <class Signature, class Operation, class Token>
    auto start(Operation operation, Token&& token) {
        return asio::async_initiate<Token, Signature>(
            [this](auto handler, Operation op) {
                if (timed_out_) {  // its deadline passed between operations
                    if constexpr (std::is_same_v<Signature, void(boost::system::error_code)>)
                        asio::post(socket_.get_executor(), asio::append(std::move(handler), make_error_code(beast::error::timeout)));
                    else
                        asio::post(socket_.get_executor(),
                                   asio::append(std::move(handler), make_error_code(beast::error::timeout), std::size_t{0}));
                    return;
                }
                ++pending_;
                op(socket_, detail::TimedCompletion<decltype(handler)>{this, std::move(handler)});
            },
            token, std::move(operation));
    }

    void expired() override {
        timed_out_ = true;
        if (pending_ > 0) close();
    }

    WorkerSocket socket_;
    int pending_ = 0;  // operations under way
    bool timed_out_ = false;
};

template <class Handler>
template <class... Results>
void detail::TimedCompletion<Handler>::operator()(boost::system::error_code ec, Results... results) {
    --stream->pending_;
    if (ec && stream->timed_out_) ec = beast::error::timeout;
    std::move(handler)(ec, results...);
}

}  // namespace ngxlite::runtime

// Asio's way of passing a wrapped handler's associations through (as its own binders do).
template <template <class, class> class Associator, class Handler, class DefaultCandidate>
struct boost::asio::associator<Associator, ngxlite::runtime::detail::TimedCompletion<Handler>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
    static typename Associator<Handler, DefaultCandidate>::type get(const ngxlite::runtime::detail::TimedCompletion<Handler>& h,
                                                                    const DefaultCandidate& c = DefaultCandidate()) noexcept {
        return Associator<Handler, DefaultCandidate>::get(h.handler, c);
    }
};
