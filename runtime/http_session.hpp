// One HTTP/1.x connection: read a request, route it, answer, keep alive, as nginx.
#pragma once

#include "runtime/active_config.hpp"
#include "runtime/timed_stream.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

#include <ctime>
#include <list>
#include <memory>
#include <optional>

namespace ngxlite::runtime {

// A stream session as its worker sees it: worker_shutdown_timeout ends it after QUIT, as
// nginx's shutdown timer does.
class ShutdownTarget : public boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
public:
    virtual void shutdown_timeout() = 0;

protected:
    ~ShutdownTarget() = default;
};

// What one worker thread shares with its connections; touched only on that thread.
struct WorkerState {
    std::shared_ptr<const ActiveConfig> config;  // its serving process's, for good
    std::size_t connections = 0;                 // client connections open
    bool stopping = false;                       // QUIT: idle connections close, busy ones finish
    TimerTree timers;                            // its connections' timeouts
    // Waiting for a request: kept alive after one (QUIT closes them), or new.
    boost::intrusive::list<TimedStream, boost::intrusive::constant_time_size<false>> idle;
    boost::intrusive::list<TimedStream, boost::intrusive::constant_time_size<false>> fresh;
    boost::asio::steady_timer* shutdown_timer = nullptr;  // worker_shutdown_timeout, while it runs
    boost::intrusive::list<ShutdownTarget, boost::intrusive::constant_time_size<false>> sessions;  // stream sessions

    // QUIT: close kept-alive connections waiting for a request; the rest close after
    // their response (a new one after its first, as nginx).
    void stop();
    // The last connection has gone after QUIT: nothing is left to wait for.
    void wind_down();
    // worker_shutdown_timeout has passed after QUIT: every stream session ends; returns
    // how many.
    std::size_t end_sessions();
};

// Serves one client connection, accepted on an address of `selector`'s, from its first
// request on.
void serve_http(WorkerSocket socket, WorkerState& worker, ConnectionInfo conn, const ServerSelector& selector);

// An HTTP date ("Wed, 25 Nov 2026 01:00:00 GMT"), valid until the thread's next call.
std::string_view http_date(std::time_t t);
// The Server header's value.
std::string server_header(bool tokens);
// A redirect target as nginx sends it (absolute_redirect on): a relative one gets
// "http://host[:port]" in front, the host being the request's or the server's name.
std::string absolute_redirect(std::string_view uri, const RequestContext& ctx);
// `expires`: the Expires and Cache-Control values for a successful answer at `now` (the
// time its Date says), or nullopt.
std::optional<std::pair<std::string, std::string>> expires_headers(const ir::Location& loc,
                                                                   std::optional<std::time_t> last_modified, std::time_t now);
// The error-log tail nginx adds: ", client: A, server: S, request: "R"[, upstream: "U"], host: "H"".
std::string describe(const RequestContext& ctx, std::string_view upstream = {});

// add_trailer: whether one applies to an answer of `status` (nginx's expect_trailers).
bool expects_trailers(const ir::Location& loc, int status);
// The headers module's trailers, evaluated once the body is out, as nginx's trailers
// filter: "Name: value\r\n" each, empty values left out; $sent_trailer_* noted.
std::string trailer_block(const ir::Location& loc, RequestContext& ctx, int status);

// nginx's status texts and its built-in error page for `status`.
const char* status_text(int status);
std::string error_page(int status, bool server_tokens);

}  // namespace ngxlite::runtime
