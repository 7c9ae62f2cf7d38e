// A connection's bytes, in the clear or through TLS: a TimedStream, with an OpenSSL
// stream over it once `start_tls` is called. Reads and writes go to whichever is in use,
// so the HTTP code above is the same for both; timeouts stay the TimedStream's (TLS
// records are read and written through it).
#pragma once

#include "runtime/timed_stream.hpp"

#include <boost/asio/ssl/stream.hpp>

#include <optional>

namespace ngxlite::runtime {

class TransportStream {
public:
    using executor_type = TimedStream::executor_type;
    using TlsStream = asio::ssl::stream<TimedStream&>;

    TransportStream(WorkerSocket socket, TimerTree& timers) : timed_(std::move(socket), timers) {}
    // The connection counts as shut down, as after nginx's ngx_ssl_shutdown: OpenSSL would
    // otherwise mark its session not resumable, and the next connection could not reuse it.
    // (No close_notify is sent: Asio's engine writes it only through a full async_shutdown.)
    ~TransportStream() {
        if (tls_) SSL_set_shutdown(tls_->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    TransportStream(const TransportStream&) = delete;
    TransportStream& operator=(const TransportStream&) = delete;

    executor_type get_executor() noexcept { return timed_.get_executor(); }
    TimedStream& timed() noexcept { return timed_; }
    WorkerSocket& socket() noexcept { return timed_.socket(); }
    void expires_after(Timeout::Clock::duration d) { timed_.expires_after(d); }

    // TLS from here on, over the connection's socket; `ssl` is owned by the stream.
    TlsStream& start_tls(SSL* ssl) { return tls_.emplace(timed_, ssl); }
    // The connection's SSL, or null in the clear.
    SSL* tls_handle() noexcept { return tls_ ? tls_->native_handle() : nullptr; }
    // TLS bytes already read from the socket and not yet returned by a read: the next
    // read may complete without the socket becoming readable.
    bool tls_buffered() noexcept {
        SSL* ssl = tls_handle();
        return ssl && (SSL_has_pending(ssl) || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0);
    }
    // Sends TLS's close_notify without waiting for the peer's, as nginx closes a client
    // connection (no_wait_shutdown); completes at once in the clear.
    template <class Token>
    auto async_close_notify(Token&& token) {
        return asio::async_initiate<Token, void(boost::system::error_code)>(
            [this](auto handler) {
                if (!tls_) {
                    asio::post(get_executor(), asio::append(std::move(handler), boost::system::error_code()));
                    return;
                }
                SSL_set_shutdown(tls_->native_handle(), SSL_get_shutdown(tls_->native_handle()) | SSL_RECEIVED_SHUTDOWN);
                tls_->async_shutdown(std::move(handler));
            },
            token);
    }

    template <class Buffers, class Token>
    auto async_read_some(const Buffers& buffers, Token&& token) {
        return start(buffers, std::forward<Token>(token),
                     [](auto& stream, const Buffers& b, auto handler) { stream.async_read_some(b, std::move(handler)); });
    }
    template <class Buffers, class Token>
    auto async_write_some(const Buffers& buffers, Token&& token) {
        return start(buffers, std::forward<Token>(token),
                     [](auto& stream, const Buffers& b, auto handler) { stream.async_write_some(b, std::move(handler)); });
    }

private:
    // `operation` on the TLS stream when there is one, else on the TimedStream.
    template <class Buffers, class Token, class Operation>
    auto start(const Buffers& buffers, Token&& token, Operation operation) {
        return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this, operation](auto handler, const Buffers& b) {
                if (tls_)
                    operation(*tls_, b, std::move(handler));
                else
                    operation(timed_, b, std::move(handler));
            },
            token, buffers);
    }

    TimedStream timed_;
    std::optional<TlsStream> tls_;
};

}  // namespace ngxlite::runtime
