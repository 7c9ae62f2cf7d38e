// What a request handler and the variables see of one request and its connection.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/http/filters/response_head.hpp"
#include "runtime/tls/client_hello.hpp"
#include "runtime/io/proxy_protocol.hpp"

#include <chrono>
#include <memory>
#include <memory_resource>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

struct ssl_st;  // OpenSSL's SSL

namespace ngxlite::runtime {

struct ConnectionInfo {
    ssl_st* ssl = nullptr;  // the connection's TLS, once its handshake is done
    std::uint64_t id = 0;  // nginx's connection number ($connection, "*N" in the error log)
    std::uint64_t requests = 0;  // served so far on this connection
    std::string remote_addr;
    std::string server_addr;
    std::uint16_t remote_port = 0;
    std::uint16_t server_port = 0;  // 0: a unix socket's (server_addr is "unix:PATH")
    // The PROXY protocol header's addresses (`listen ... proxy_protocol`), when it had some.
    std::shared_ptr<const ProxyProtocol> proxy_protocol;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();  // keepalive_time, $connection_time
    // The listening address in error lines' "server: ..." ("127.0.0.1:8080", "unix:PATH").
    std::string server_text() const { return server_port ? server_addr + ":" + std::to_string(server_port) : server_addr; }
};

struct Request {
    Request() = default;
    // The header fields in `memory` (the request's arena), which outlives the request.
    explicit Request(std::pmr::memory_resource* memory) : headers(memory) {}

    // The request line's parts are views into the head's bytes, which the request keeps
    // (RequestHeadReader::keep_head), or into constants (a redirect's "GET").
    std::string_view method;
    std::string_view request_line;  // "GET /a?b HTTP/1.1", for $request and logs
    std::string_view request_uri;   // as received
    std::string uri;           // decoded and normalised, as nginx matches locations
    std::string args;
    bool args_present = false;  // a '?' came (or a rewrite set them): empty $args is "", not "-"
    int version = 11;          // 9, 10 or 11
    std::string_view protocol;  // as the request line has it ("HTTP/1.10"), $server_protocol
    // As received: views into the head's bytes, as the request line's parts.
    std::pmr::vector<HeaderField> headers;
    std::string host;          // lowercased, without port
    std::string body;
    bool body_framed = false;  // Content-Length or chunked came: the upstream gets a Content-Length
    std::uint64_t length = 0;  // $request_length: the head's bytes and the body's read so far
    bool pipelined = false;    // $pipe: it came behind another in the same read
    bool body_read = false;    // read for a handler (proxy_pass): $request_body has it
    std::string body_file;     // where it was also written (client_body_buffer_size, _in_file_only)
    // proxy_request_buffering off, the body still coming when the handler ran: it goes
    // upstream as it comes; its Content-Length, or -1 for a chunked one (sent chunked).
    std::optional<std::int64_t> body_streamed;
    std::chrono::system_clock::time_point start;
    // nginx's r->valid_unparsed_uri: the URI is still the one received (no rewrite), so a
    // proxy_pass without a URI part sends request_uri as is.
    bool valid_unparsed_uri = true;
    // nginx's r->valid_location: no `rewrite ... break` changed the URI, so proxy_pass's
    // URI part still replaces the location's prefix.
    bool valid_location = true;
    bool internal = false;  // reached by a rewrite or an internal redirect: internal locations serve it

    // The first header `name` (case-insensitive), or nullptr.
    const std::string_view* header(std::string_view name) const;
};

// What a stream {} session adds to the variables (ngx_stream_variables and the stream
// upstream's), beside RequestContext's connection, status, bytes_sent and upstream_addr.
struct StreamFacts {
    std::chrono::steady_clock::time_point start;  // $session_time
    std::uint64_t bytes_received = 0;             // from the client
    // One entry per upstream attempt, joined with ", " as nginx's $upstream_* variables.
    std::string upstream_bytes_sent;
    std::string upstream_bytes_received;
    std::string upstream_first_byte_time;
    std::string upstream_session_time;
    std::optional<ClientHello> preread;  // ssl_preread's findings, when the client sent a ClientHello
};

// A regex's match whose captures serve one expansion only (a map's value, proxy_redirect's
// replacement) and never reach the request: its $1.. and its named groups, which come
// before the request's values of the same names. `outer`: the match whose expansion this
// one happens in (a map read in another map's value).
struct LocalCaptures {
    const ir::Regex& regex;
    std::vector<std::string> groups;  // $0, $1, ...
    const LocalCaptures* outer = nullptr;

    // A named group's value, by the slot of its variable; null when none of the chain has it.
    const std::string* named(int slot) const;
};

// The variables' context: an HTTP request's, or a stream session's (with `stream` set and
// an empty request).
struct RequestContext {
    RequestContext(const ConnectionInfo& c, Request& r) : connection(c), request(r) {}

    const ConnectionInfo& connection;
    Request& request;  // the rewrite module changes its URI and arguments
    const ir::HttpServer* server = nullptr;
    std::string real_addr;  // realip's client address, when a trusted proxy named one
    int real_port = -1;     // and its port (0: none named), -1: the connection's
    const ir::Location* location = nullptr;  // the one serving the request, once found
    std::vector<std::string> captures;  // $0.. of the matched regex
    // http{}'s or stream{}'s variables, which its templates index, and maps (those once
    // the request reaches its phases).
    const ir::Variables* variables = nullptr;
    const std::vector<ir::Map>* maps = nullptr;
    // By slot (ir::Variable::slot): what `set` and regexes' (?<name>) captures assigned.
    std::vector<std::optional<std::string>> values;
    // By map: its value once evaluated (nginx caches a variable's value for the request;
    // `volatile` maps are evaluated at each use).
    mutable std::vector<std::optional<std::string>> map_values;
    const StreamFacts* stream = nullptr;         // a stream session's own variables
    mutable std::string request_id;              // $request_id, once read

    // `set`: the variable's index in `variables`.
    void set_variable(int index, std::string value);
    // $remote_addr: the connection's peer, or the client a trusted proxy named (realip).
    const std::string& remote_addr() const { return real_addr.empty() ? connection.remote_addr : real_addr; }
    // $remote_port: the connection's, or the one realip took with the address (none: empty).
    std::string remote_port() const;
    // A regex match of the rewrite module: on success its captures become $1.. and its
    // named groups variables.
    bool match(const ir::Regex& regex, std::string_view subject);
    // A regex's named groups of `groups` become its variables (a regex location, a server name).
    void set_named_captures(const ir::Regex& regex, const std::vector<std::string>& groups);
    int status = 0;
    int status_override = 0;  // error_page's status for the page it redirected to (r->err_status)
    std::uint64_t bytes_sent = 0;
    std::uint64_t body_bytes_sent = 0;
    std::uint64_t gzip_in = 0, gzip_out = 0;  // the gzip filter's totals ($gzip_ratio)
    std::uint64_t continue_bytes = 0;  // "100 Continue" sent first: nginx counts it as body too
    // $sent_http_* of an answer made here: its head as the header filters change it
    // (nginx reads r->headers_out); null once a proxied answer's head went (sent_header_block).
    const ResponseHead* sent_head = nullptr;
    std::vector<std::pair<std::string, std::string>> response_trailers;  // $sent_trailer_*
    // $limit_rate: set by `set $limit_rate`, else the location's once the answer goes out.
    std::optional<std::uint64_t> limit_rate;
    // What the rewrite module's script would log (an invalid $limit_rate, a file test's
    // failure): (crit, message), written by the caller with its log.
    std::vector<std::pair<bool, std::string>> script_errors;
    std::string upstream_headers;  // $upstream_http_*: the last upstream's, "Name: value\r\n" each
    std::string sent_header_block;  // $sent_http_* of a proxied answer: the header as sent
    bool proxying = false;    // the proxy module took the request: $proxy_host is set, if empty
    std::string proxy_host;   // $proxy_host while proxying
    std::string proxy_port;   // $proxy_port while proxying (a unix socket's: empty)
    const std::string* proxy_body = nullptr;  // what goes upstream as the body (proxy_set_body or the client's)
    // One entry per upstream attempt, joined with ", " as nginx's $upstream_* variables.
    std::string upstream_addr;           // $upstream_addr
    std::string upstream_status;         // $upstream_status
    std::string upstream_connect_time;   // $upstream_connect_time
    std::string upstream_header_time;    // $upstream_header_time
    std::string upstream_response_time;  // $upstream_response_time
    std::string upstream_bytes_sent;       // $upstream_bytes_sent
    std::string upstream_bytes_received;   // $upstream_bytes_received
    std::string upstream_response_length;  // $upstream_response_length: the body's bytes
    // An upstream's answer is going out: its response time is "-" until it ends (nginx's
    // state->response_time of -1).
    bool upstream_responding = false;
    std::optional<std::uint64_t> upstream_length_now;  // and its body's length, once all in
};

// Expands a compiled template against a request: variables and captures, those of `local`
// when given.
std::string expand(const ir::Template& t, const RequestContext& ctx, const LocalCaptures* local = nullptr);
// One variable's value by its index in ctx.variables; `found` false when it is not set
// (logged as "-").
std::string variable(int index, const RequestContext& ctx, bool& found);
// `regex` matched against `subject` with captures of its own, or nullopt.
std::optional<LocalCaptures> match_locally(const ir::Regex& regex, std::string_view subject,
                                           const LocalCaptures* outer = nullptr);

}  // namespace ngxlite::runtime
