// One client HTTP connection, shared by its life (http_session.cpp: TLS start, PROXY
// header, idle waits, busy spells) and its requests (http_request.cpp).
#pragma once

#include "runtime/core/net.hpp"
#include "runtime/core/worker_state.hpp"
#include "runtime/http/request.hpp"
#include "runtime/io/transport_stream.hpp"

#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <memory>

namespace ngxlite::runtime {

// One client HTTP connection: what outlives its requests. Counted in its worker while it
// exists; the last one out ends a graceful stop early.
struct HttpConnection {
    HttpConnection(WorkerState& w, std::shared_ptr<const ActiveConfig> config, ConnectionInfo info, const ServerSelector& s,
               WorkerSocket socket)
        : worker(w), cfg(std::move(config)), conn(std::move(info)), selector(&s),
          stream(std::move(socket), w.timers),
          // Until a Host header picks a server, the address's default server's timeouts apply.
          header_timeout(s.select("").client_header_timeout), idle_timeout(header_timeout) {
        ++worker.connections;
    }
    ~HttpConnection() {
        stream.timed().expires_never();  // before wind_down looks for deadlines left
        if (--worker.connections == 0 && worker.stopping) worker.wind_down();
    }
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;

    WorkerState& worker;
    std::shared_ptr<const ActiveConfig> cfg;
    ConnectionInfo conn;
    const ServerSelector* selector;
    TransportStream stream;
    bool plain_http = false;  // plain HTTP came to a `listen ... ssl` address: answered 400 (nginx's 497)
    char peeked = 0;          // the first byte waiting to be read, looked at, left in the socket
    std::chrono::milliseconds header_timeout;
    std::chrono::milliseconds idle_timeout;  // until the next request begins
};

// The connection's last answer is out: TLS's close_notify, then the write side shut,
// as nginx closes a connection.
Task<void> finish_writing(TransportStream& stream, std::chrono::milliseconds send_timeout);

// One request on a connection whose buffer holds its first bytes: its head read and
// checked, then routed, answered and logged. False: close the connection. Its frame lives
// only while the request does, so an idle connection costs little more than its socket.
Task<bool> serve_request(HttpConnection& c, beast::flat_buffer& buffer, bool pipelined);

}  // namespace ngxlite::runtime
