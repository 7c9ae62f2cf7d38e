// A connection's bytes, in the clear or through TLS: a TimedStream, with OpenSSL on its
// socket once `start_tls` is called. Reads and writes go through whichever is in use, so
// the HTTP and stream code above is the same for both; timeouts stay the TimedStream's.
//
// TLS is OpenSSL on the socket itself, as nginx does it (SSL_set_fd): a record goes from
// the kernel to OpenSSL and back without the copy through a memory BIO that
// asio::ssl::stream makes, and an OpenSSL call that would block waits for the socket to
// be ready, then runs again.
#pragma once

#include "runtime/io/timed_stream.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <tuple>
#include <vector>

namespace ngxlite::runtime {

// The error of an OpenSSL call that returned `rc` with `ssl_error` (SSL_get_error), as
// Asio's TLS stream reported it: OpenSSL's first error in Asio's ssl category, the
// socket's error, asio::error::eof after the peer's close_notify, and
// asio::ssl::error::stream_truncated when a read meets the end without one.
boost::system::error_code tls_call_error(int ssl_error, bool reading);

namespace detail {
// The outcome of one try of an OpenSSL call: done (with `error` set or not), or the socket
// to wait for before the next try.
struct TlsAttempt {
    bool wait = false;
    tcp::socket::wait_type for_socket = tcp::socket::wait_read;
    boost::system::error_code error;
    std::size_t transferred = 0;
};

// `call(ssl, transferred)` returns OpenSSL's result (> 0: done).
template <class Call>
TlsAttempt attempt_tls(SSL* ssl, Call& call, bool reading) {
    TlsAttempt a;
    ERR_clear_error();
    errno = 0;  // what SSL_ERROR_SYSCALL reports is this call's
    const int rc = call(ssl, a.transferred);
    const int ssl_error = rc > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, rc);
    if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) {
        a.wait = true;
        a.for_socket = ssl_error == SSL_ERROR_WANT_READ ? tcp::socket::wait_read : tcp::socket::wait_write;
        return a;
    }
    a.error = tls_call_error(ssl_error, reading);
    if (a.error) a.transferred = 0;
    return a;
}

// The handler of a wait for the socket: tries the call again, waits again, or completes.
// `Counted`: the operation completes with the byte count too.
template <class Call, bool Counted, class Handler>
struct TlsRetry {
    TimedStream* timed;
    SSL* ssl;
    Call call;
    bool reading;  // a read: the end without close_notify is stream_truncated
    Handler handler;

    void operator()(boost::system::error_code ec) {
        if (ec) return finish(ec, 0);  // the wait failed: timeout, or closed
        const TlsAttempt a = attempt_tls(ssl, call, reading);
        if (a.wait) return timed->async_wait(a.for_socket, std::move(*this));
        finish(a.error, a.transferred);
    }
    void finish(const boost::system::error_code& ec, std::size_t n) {
        if constexpr (Counted)
            std::move(handler)(ec, n);
        else
            std::move(handler)(ec);
    }
};
}  // namespace detail

class TransportStream {
public:
    using executor_type = TimedStream::executor_type;
    enum class TlsRole { client, server };

    TransportStream(WorkerSocket socket, TimerTree& timers) : timed_(std::move(socket), timers) {}
    // The connection counts as shut down, as after nginx's ngx_ssl_shutdown: OpenSSL would
    // otherwise mark its session not resumable, and the next connection could not reuse it.
    ~TransportStream() {
        if (!ssl_) return;
        SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(ssl_);
    }
    TransportStream(const TransportStream&) = delete;
    TransportStream& operator=(const TransportStream&) = delete;

    executor_type get_executor() noexcept { return timed_.get_executor(); }
    TimedStream& timed() noexcept { return timed_; }
    WorkerSocket& socket() noexcept { return timed_.socket(); }
    void expires_after(Timeout::Clock::duration d) { timed_.expires_after(d); }

    // TLS from here on, over the connection's socket; `ssl` is owned by the stream.
    void start_tls(SSL* ssl) {
        ssl_ = ssl;
        boost::system::error_code ignored;
        if (!timed_.socket().non_blocking()) timed_.socket().non_blocking(true, ignored);  // OpenSSL's reads and writes must not block
        SSL_set_fd(ssl_, timed_.socket().native_handle());
        // A write may return after a record (async_write goes on from there), and be
        // retried from a moved buffer; idle connections keep no record buffers.
        SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        // A record in one read() rather than its header and its body in two, as nginx.
        SSL_set_read_ahead(ssl_, 1);
    }
    // The connection's SSL, or null in the clear.
    SSL* tls_handle() const noexcept { return ssl_; }
    // TLS bytes already read from the socket and not yet returned by a read: the next
    // read may complete without the socket becoming readable.
    bool tls_buffered() const noexcept { return ssl_ && SSL_has_pending(ssl_); }

    template <class Token>
    auto async_handshake(TlsRole role, Token&& token) {
        if (role == TlsRole::server)
            SSL_set_accept_state(ssl_);
        else
            SSL_set_connect_state(ssl_);
        return tls_call<false>([](SSL* ssl, std::size_t&) { return SSL_do_handshake(ssl); }, false, std::forward<Token>(token));
    }
    // Sends TLS's close_notify without waiting for the peer's, as nginx closes a client
    // connection (no_wait_shutdown); completes at once in the clear.
    template <class Token>
    auto async_close_notify(Token&& token) {
        if (ssl_) SSL_set_shutdown(ssl_, SSL_get_shutdown(ssl_) | SSL_RECEIVED_SHUTDOWN);
        return tls_call<false>(
            [](SSL* ssl, std::size_t&) {
                if (!ssl) return 1;
                const int rc = SSL_shutdown(ssl);
                return rc == 0 ? 1 : rc;  // 0: sent, the peer's not awaited
            },
            false, std::forward<Token>(token));
    }

    template <class Buffers, class Token>
    auto async_read_some(const Buffers& buffers, Token&& token) {
        if (!ssl_) return timed_.async_read_some(buffers, std::forward<Token>(token));
        const asio::mutable_buffer b = first_buffer<asio::mutable_buffer>(buffers);
        return tls_call<true>(
            [b](SSL* ssl, std::size_t& n) { return b.size() == 0 ? 1 : SSL_read_ex(ssl, b.data(), b.size(), &n); }, true,
            std::forward<Token>(token));
    }
    // In TLS, small buffers go out together as one record, as nginx's 16k SSL buffer does.
    template <class Buffers, class Token>
    auto async_write_some(const Buffers& buffers, Token&& token) {
        if (!ssl_) return timed_.async_write_some(buffers, std::forward<Token>(token));
        const asio::const_buffer b = gathered(buffers);
        return tls_call<true>(
            [b](SSL* ssl, std::size_t& n) { return b.size() == 0 ? 1 : SSL_write_ex(ssl, b.data(), b.size(), &n); }, false,
            std::forward<Token>(token));
    }

    // A write's first try, made without an operation: what the connection takes now. An
    // answer that fits the socket's buffer then goes out with no completion posted and
    // no coroutine suspended. Would-block is 0 bytes; `ec` is set only for a failure.
    // After 0 bytes in TLS, the next write must start with the same bytes (OpenSSL's rule).
    template <class Buffers>
    std::size_t write_now(const Buffers& buffers, boost::system::error_code& ec) {
        ec.clear();
        if (!ssl_) {
            const std::size_t n = timed_.socket().write_some(buffers, ec);
            if (ec == asio::error::would_block) ec.clear();
            return n;
        }
        const asio::const_buffer b = gathered(buffers);
        if (b.size() == 0) return 0;
        auto call = [b](SSL* ssl, std::size_t& n) { return SSL_write_ex(ssl, b.data(), b.size(), &n); };
        const detail::TlsAttempt a = detail::attempt_tls(ssl_, call, false);
        ec = a.error;
        return a.wait ? 0 : a.transferred;
    }

private:
    static constexpr std::size_t kRecord = 16384;

    // The call tried at once; when it must wait, a TlsRetry waits and tries again. A result
    // known at once is posted: an operation never completes inside its initiating call.
    template <bool Counted, class Call, class Token>
    auto tls_call(Call call, bool reading, Token&& token) {
        using Signature = std::conditional_t<Counted, void(boost::system::error_code, std::size_t), void(boost::system::error_code)>;
        return asio::async_initiate<Token, Signature>(
            [this](auto handler, Call call, bool reading) {
                const detail::TlsAttempt a = detail::attempt_tls(ssl_, call, reading);
                if (a.wait) {
                    timed_.async_wait(a.for_socket, detail::TlsRetry<Call, Counted, decltype(handler)>{
                                                        &timed_, ssl_, std::move(call), reading, std::move(handler)});
                } else if constexpr (Counted) {
                    asio::post(asio::append(std::move(handler), a.error, a.transferred));
                } else {
                    asio::post(asio::append(std::move(handler), a.error));
                }
            },
            token, std::move(call), reading);
    }

    template <class Buffer, class Buffers>
    static Buffer first_buffer(const Buffers& buffers) {
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
            if (Buffer(*it).size() > 0) return Buffer(*it);
        return Buffer();
    }
    // The first buffer, or the leading ones copied together when the first is short.
    template <class Buffers>
    asio::const_buffer gathered(const Buffers& buffers) {
        auto it = asio::buffer_sequence_begin(buffers);
        const auto end = asio::buffer_sequence_end(buffers);
        while (it != end && asio::const_buffer(*it).size() == 0) ++it;
        if (it == end) return {};
        const asio::const_buffer first(*it);
        if (first.size() >= kRecord || std::next(it) == end) return first;
        gather_.clear();
        for (; it != end && gather_.size() < kRecord; ++it) {
            const asio::const_buffer b(*it);
            const std::size_t n = std::min(b.size(), kRecord - gather_.size());
            gather_.insert(gather_.end(), static_cast<const char*>(b.data()), static_cast<const char*>(b.data()) + n);
        }
        return asio::buffer(gather_);
    }

    TimedStream timed_;
    SSL* ssl_ = nullptr;
    std::vector<char> gather_;
};

// asio::async_write after a first try made at once (TransportStream::write_now): the
// answer a socket takes whole, as most small ones are, costs no operation, no posted
// completion and no resumption. The error and the bytes written, as async_write's.
template <class Buffers>
Task<std::tuple<boost::system::error_code, std::size_t>> write_all(TransportStream& stream, const Buffers& buffers) {
    boost::system::error_code ec;
    const std::size_t now = stream.write_now(buffers, ec);
    if (ec || now == asio::buffer_size(buffers)) co_return std::tuple{ec, now};
    beast::buffers_suffix<Buffers> rest(buffers);
    rest.consume(now);
    auto [wec, n] = co_await asio::async_write(stream, rest, use_tuple);
    co_return std::tuple{wec, now + n};
}

}  // namespace ngxlite::runtime

// A TlsRetry has its handler's executor, allocator and cancellation slot.
template <template <class, class> class Associator, class Call, bool Counted, class Handler, class DefaultCandidate>
struct boost::asio::associator<Associator, ngxlite::runtime::detail::TlsRetry<Call, Counted, Handler>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
    static typename Associator<Handler, DefaultCandidate>::type get(const ngxlite::runtime::detail::TlsRetry<Call, Counted, Handler>& h,
                                                                    const DefaultCandidate& c = DefaultCandidate()) noexcept {
        return Associator<Handler, DefaultCandidate>::get(h.handler, c);
    }
};
