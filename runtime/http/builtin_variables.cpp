// nginx's built-in variables as the runtime serves them: getters by their row in
// ir::kBuiltinVariables, where the parser resolved each name a script reads.
#include "runtime/http/builtin_variables.hpp"
#include "runtime/http/filters/gzip_filter.hpp"

#include "runtime/core/text.hpp"
#include "runtime/http/request.hpp"
#include "runtime/http/modules/auth_basic.hpp"
#include "runtime/http/handlers.hpp"
#include "runtime/http/response.hpp"
#include "runtime/tls/tls.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <span>
#include <arpa/inet.h>
#include <openssl/rand.h>
#include <unistd.h>

namespace ngxlite::runtime {

namespace {

// "$http_user_agent" reads "User-Agent": '_' stands for '-', case does not matter.
bool header_name_matches(std::string_view header, std::string_view var) {
    if (header.size() != var.size()) return false;
    for (std::size_t i = 0; i < header.size(); ++i) {
        char h = ascii_lower(header[i]);
        if (h == '-') h = '_';
        if (h != var[i]) return false;
    }
    return true;
}

// ngx_inet_get_port's port as $remote_port and $server_port give it: none (a unix socket's
// 0) is empty.
std::string port_text(int port) { return port > 0 ? std::to_string(port) : std::string(); }

// $binary_remote_addr: the address as 4 or 16 bytes in network order; a unix socket's is
// its text ("unix:"), as ngx_http_variable_binary_remote_addr's default case.
std::string binary_address(const std::string& text) {
    std::array<char, 16> bytes{};
    if (inet_pton(AF_INET, text.c_str(), bytes.data()) == 1) return std::string(bytes.data(), 4);
    if (inet_pton(AF_INET6, text.c_str(), bytes.data()) == 1) return std::string(bytes.data(), bytes.size());
    return text;
}

// $request_id: 16 random bytes (OpenSSL's generator, as nginx built with it) in lower-case
// hex, made at the first use and kept for the request.
std::string request_id(const RequestContext& c, bool& found) {
    if (c.request_id.empty()) {
        std::array<unsigned char, 16> bytes{};
        if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) return found = false, std::string();
        static constexpr char digits[] = "0123456789abcdef";
        for (const unsigned char b : bytes) c.request_id += {digits[b >> 4], digits[b & 15]};
    }
    return c.request_id;
}

// $status as nginx prints it ("%03ui"): an HTTP/0.9 answer's status 9 is "009".
std::string status_digits(int status) {
    std::string digits = std::to_string(status);
    if (digits.size() < 3) digits.insert(0, 3 - digits.size(), '0');
    return digits;
}

// A header's value in a "Name: value\r\n" block, as kept for proxied responses.
std::optional<std::string> header_in_block(std::string_view block, std::string_view var) {
    while (!block.empty()) {
        const auto eol = block.find("\r\n");
        const std::string_view line = block.substr(0, eol);
        const auto colon = line.find(':');
        if (colon != std::string_view::npos && header_name_matches(line.substr(0, colon), var))
            return std::string(line.substr(std::min(line.size(), colon + 2)));
        if (eol == std::string_view::npos) break;
        block.remove_prefix(eol + 2);
    }
    return std::nullopt;
}

// Every value of a header in such a block, in order.
std::vector<std::string> headers_in_block(std::string_view block, std::string_view var) {
    std::vector<std::string> out;
    while (!block.empty()) {
        const auto eol = block.find("\r\n");
        const std::string_view line = block.substr(0, eol);
        const auto colon = line.find(':');
        if (colon != std::string_view::npos && header_name_matches(line.substr(0, colon), var))
            out.emplace_back(line.substr(std::min(line.size(), colon + 2)));
        if (eol == std::string_view::npos) break;
        block.remove_prefix(eol + 2);
    }
    return out;
}

// ngx_http_parse_multi_header_lines (a request's Cookie: items split by ';' or ',') and
// ngx_http_parse_set_cookie_lines (a Set-Cookie: its first item only): the name compared
// without case, spaces allowed around '=', the value running to ';'.
std::optional<std::string> cookie_value(std::string_view line, std::string_view want, bool request) {
    if (want.size() > line.size() || (!request && want.size() == line.size())) return std::nullopt;
    std::size_t at = 0;
    while (at < line.size()) {
        if (iequal(line.substr(at, want.size()), want)) {
            std::size_t p = at + want.size();
            while (p < line.size() && line[p] == ' ') ++p;
            if (p < line.size() && line[p] == '=') {
                ++p;
                while (p < line.size() && line[p] == ' ') ++p;
                const std::size_t end = line.find(';', p);
                return std::string(line.substr(p, end == std::string_view::npos ? std::string_view::npos : end - p));
            }
            at = p;
        }
        if (!request) return std::nullopt;
        while (at < line.size()) {
            const char ch = line[at++];
            if (ch == ';' || ch == ',') break;
        }
        while (at < line.size() && line[at] == ' ') ++at;
    }
    return std::nullopt;
}

std::string format_time(const char* fmt, std::chrono::system_clock::time_point tp) {
    std::time_t t = std::chrono::system_clock::to_time_t(tp);
    std::tm tm{};
    ::localtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, fmt, &tm);
    return buf;
}


// $ssl_preread_*: found while ssl_preread's context lives (an empty value is found).
template <class Field>
std::string preread(const RequestContext& c, bool& found, Field field) {
    found = c.stream && c.stream->preread;
    return found ? std::string(field(*c.stream->preread)) : std::string();
}

// A stream upstream variable: one entry per attempt; not found before the first.
std::string stream_list(const RequestContext& c, std::string StreamFacts::*list, bool& found) {
    found = c.stream && !(c.stream->*list).empty();
    return found ? c.stream->*list : std::string();
}

// $proxy_protocol_*: not found without a PROXY protocol header that named addresses; a
// port of 0 is empty, as nginx prints ports.
std::string proxy_protocol_addr(const RequestContext& c, std::string ProxyProtocol::*field, bool& found) {
    found = c.connection.proxy_protocol != nullptr;
    return found ? (*c.connection.proxy_protocol).*field : std::string();
}

std::string proxy_protocol_port(const RequestContext& c, std::uint16_t ProxyProtocol::*field, bool& found) {
    found = c.connection.proxy_protocol != nullptr;
    const std::uint16_t port = found ? (*c.connection.proxy_protocol).*field : 0;
    return port ? std::to_string(port) : std::string();
}

using Variable = std::pair<std::string_view, BuiltinGetter>;

// Variables of the connection and its PROXY protocol header.
constexpr Variable kConnectionVariables[] = {
    {"remote_addr", [](const RequestContext& c, bool&) { return c.remote_addr(); }},
    {"binary_remote_addr", [](const RequestContext& c, bool&) { return binary_address(c.remote_addr()); }},
    {"realip_remote_addr", [](const RequestContext& c, bool&) { return c.connection.remote_addr; }},
    {"remote_port", [](const RequestContext& c, bool&) { return c.remote_port(); }},
    {"proxy_protocol_addr", [](const RequestContext& c, bool& found) { return proxy_protocol_addr(c, &ProxyProtocol::src_addr, found); }},
    {"proxy_protocol_port", [](const RequestContext& c, bool& found) { return proxy_protocol_port(c, &ProxyProtocol::src_port, found); }},
    {"proxy_protocol_server_addr", [](const RequestContext& c, bool& found) { return proxy_protocol_addr(c, &ProxyProtocol::dst_addr, found); }},
    {"proxy_protocol_server_port", [](const RequestContext& c, bool& found) { return proxy_protocol_port(c, &ProxyProtocol::dst_port, found); }},
    {"realip_remote_port", [](const RequestContext& c, bool&) { return port_text(c.connection.remote_port); }},
    {"server_addr", [](const RequestContext& c, bool&) { return c.connection.server_addr; }},
    {"server_port", [](const RequestContext& c, bool&) { return port_text(c.connection.server_port); }},
    {"connection", [](const RequestContext& c, bool&) { return std::to_string(c.connection.id); }},
    {"connection_requests", [](const RequestContext& c, bool&) { return std::to_string(c.connection.requests); }},
    {"connection_time", [](const RequestContext& c, bool&) {
         return seconds_text(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - c.connection.start).count());
     }},
};

// Variables of the request line, its head and body, and the times.
constexpr Variable kRequestVariables[] = {
    {"limit_rate", [](const RequestContext& c, bool&) { return std::to_string(c.limit_rate.value_or(0)); }},
    {"request_id", request_id},
    {"request_length", [](const RequestContext& c, bool&) { return std::to_string(c.request.length); }},
    {"pipe", [](const RequestContext& c, bool&) { return std::string(c.request.pipelined ? "p" : "."); }},
    {"request", [](const RequestContext& c, bool&) { return std::string(c.request.request_line); }},
    {"request_method", [](const RequestContext& c, bool&) { return std::string(c.request.method); }},
    // Not found ("-") for a request refused before its URI was taken, as nginx: the
    // request line not parsed, or (request_uri) its URI refused.
    {"request_uri", [](const RequestContext& c, bool& found) { found = !c.request.request_uri.empty(); return std::string(c.request.request_uri); }},
    {"uri", [](const RequestContext& c, bool& found) { found = !c.request.method.empty(); return c.request.uri; }},
    {"document_uri", [](const RequestContext& c, bool&) { return c.request.uri; }},
    {"args", [](const RequestContext& c, bool& found) { found = c.request.args_present; return c.request.args; }},
    {"query_string", [](const RequestContext& c, bool& found) { found = c.request.args_present; return c.request.args; }},
    {"is_args", [](const RequestContext& c, bool&) { return std::string(c.request.args.empty() ? "" : "?"); }},
    {"scheme", [](const RequestContext& c, bool&) { return std::string(c.connection.ssl ? "https" : "http"); }},
    {"https", [](const RequestContext& c, bool&) { return std::string(c.connection.ssl ? "on" : ""); }},
    {"server_protocol", [](const RequestContext& c, bool&) { return std::string(c.request.protocol); }},
    {"host", [](const RequestContext& c, bool&) {
         if (!c.request.host.empty()) return c.request.host;
         return c.server ? c.server->server_name : std::string();
     }},
    {"server_name", [](const RequestContext& c, bool&) {
         return c.server ? c.server->server_name : std::string();
     }},
    {"status", [](const RequestContext& c, bool&) { return status_digits(c.status); }},
    {"body_bytes_sent", [](const RequestContext& c, bool&) { return std::to_string(c.body_bytes_sent); }},
    {"bytes_sent", [](const RequestContext& c, bool&) { return std::to_string(c.bytes_sent); }},
    {"gzip_ratio", [](const RequestContext& c, bool& found) {
         std::string ratio = gzip_ratio(c.gzip_in, c.gzip_out);
         found = !ratio.empty();
         return ratio;
     }},
    {"content_length", [](const RequestContext& c, bool& found) {
         const std::string_view* v = c.request.header("Content-Length");
         found = v != nullptr;
         return std::string(v ? *v : std::string_view());
     }},
    {"content_type", [](const RequestContext& c, bool& found) {
         const std::string_view* v = c.request.header("Content-Type");
         found = v != nullptr;
         return std::string(v ? *v : std::string_view());
     }},
    {"remote_user", [](const RequestContext& c, bool& found) {
         auto cred = basic_credentials(c.request);
         found = cred.has_value();
         return found ? cred->user : std::string();
     }},
    // Read for a handler and kept in memory; one in a file is $request_body_file's.
    {"request_body", [](const RequestContext& c, bool& found) {
         found = c.request.body_read && c.request.body_file.empty();
         return found ? c.request.body : std::string();
     }},
    {"request_body_file", [](const RequestContext& c, bool& found) {
         found = !c.request.body_file.empty();
         return c.request.body_file;
     }},
    {"time_local", [](const RequestContext& c, bool&) { return format_time("%d/%b/%Y:%H:%M:%S %z", c.request.start); }},
    {"time_iso8601", [](const RequestContext& c, bool&) {
         const std::string t = format_time("%Y-%m-%dT%H:%M:%S%z", c.request.start);  // nginx's offset is "+00:00"
         return t.size() < 5 ? t : t.substr(0, t.size() - 2) + ":" + t.substr(t.size() - 2);
     }},
    {"msec", [](const RequestContext&, bool&) {
         return seconds_text(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
     }},
    {"request_time", [](const RequestContext& c, bool&) {
         return seconds_text(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() - c.request.start).count());
     }},
};

// Variables of proxy_pass and the upstream (http and stream).
constexpr Variable kUpstreamVariables[] = {
    {"proxy_host", [](const RequestContext& c, bool& found) { found = c.proxying; return c.proxy_host; }},
    {"proxy_port", [](const RequestContext& c, bool& found) { found = c.proxying; return c.proxy_port; }},
    {"proxy_internal_body_length", [](const RequestContext& c, bool& found) {
         // nginx: the client's length (even when the body is not passed), or proxy_set_body's.
         const bool set_body = c.proxy_body && c.proxy_body != &c.request.body;
         const std::optional<std::int64_t>& streamed = c.request.body_streamed;
         if (streamed && !set_body) {  // the client's length; a chunked one goes chunked
             found = *streamed >= 0;
             return found ? std::to_string(*streamed) : std::string();
         }
         found = c.request.body_framed || set_body;
         return found ? std::to_string(set_body ? c.proxy_body->size() : c.request.body.size()) : std::string();
     }},
    {"proxy_internal_chunked", [](const RequestContext& c, bool& found) {
         found = c.request.body_streamed && *c.request.body_streamed < 0;
         return found ? std::string("chunked") : std::string();
     }},
    {"proxy_add_x_forwarded_for", [](const RequestContext& c, bool&) {
         const std::string_view* xff = c.request.header("X-Forwarded-For");
         return xff ? std::string(*xff) + ", " + c.remote_addr() : c.remote_addr();
     }},
    {"upstream_addr",
     [](const RequestContext& c, bool& found) {
         // stream: once an attempt was made (each has a byte count), even with no peer name
         found = c.stream ? !c.stream->upstream_bytes_sent.empty() : !c.upstream_addr.empty();
         return c.upstream_addr;
     }},
    {"upstream_status", [](const RequestContext& c, bool& found) { found = !c.upstream_status.empty(); return c.upstream_status; }},
    {"upstream_connect_time", [](const RequestContext& c, bool& found) { found = !c.upstream_connect_time.empty(); return c.upstream_connect_time; }},
    {"upstream_header_time", [](const RequestContext& c, bool& found) { found = !c.upstream_header_time.empty(); return c.upstream_header_time; }},
    {"upstream_response_time", [](const RequestContext& c, bool& found) {
         found = !c.upstream_response_time.empty() || c.upstream_responding;
         if (!c.upstream_responding) return c.upstream_response_time;
         return c.upstream_response_time.empty() ? std::string("-") : c.upstream_response_time + ", -";
     }},
    {"upstream_response_length", [](const RequestContext& c, bool& found) {
         found = !c.upstream_response_length.empty();
         if (!c.upstream_responding || !c.upstream_length_now) return c.upstream_response_length;
         found = true;
         const std::string now = std::to_string(*c.upstream_length_now);
         return c.upstream_response_length.empty() ? now : c.upstream_response_length + ", " + now;
     }},
};

// Variables of the files a location maps the URI to.
constexpr Variable kFilesVariables[] = {
    {"document_root", [](const RequestContext& c, bool& found) {
         found = c.location != nullptr;
         return found ? document_root(*c.location, c) : std::string();
     }},
    {"realpath_root", [](const RequestContext& c, bool& found) {
         char resolved[PATH_MAX];
         found = c.location != nullptr && ::realpath(document_root(*c.location, c).c_str(), resolved) != nullptr;
         return found ? std::string(resolved) : std::string();
     }},
    {"request_filename", [](const RequestContext& c, bool& found) {
         found = c.location != nullptr;
         return found ? file_path(*c.location, c.request.uri, c) : std::string();
     }},
};

// Variables of stream {} only (the parser lets no http script name them).
constexpr Variable kStreamVariables[] = {
    {"protocol", [](const RequestContext&, bool&) { return std::string("TCP"); }},
    {"bytes_received", [](const RequestContext& c, bool& found) {
         found = c.stream != nullptr;
         return found ? std::to_string(c.stream->bytes_received) : std::string();
     }},
    {"session_time", [](const RequestContext& c, bool& found) {
         found = c.stream != nullptr;
         return found ? seconds_text(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - c.stream->start).count())
                      : std::string();
     }},
    {"ssl_preread_protocol",
     [](const RequestContext& c, bool& found) { return preread(c, found, [](const ClientHello& h) { return h.protocol(); }); }},
    {"ssl_preread_server_name",
     [](const RequestContext& c, bool& found) { return preread(c, found, [](const ClientHello& h) { return h.server_name; }); }},
    {"ssl_preread_alpn_protocols",
     [](const RequestContext& c, bool& found) { return preread(c, found, [](const ClientHello& h) { return h.alpn_protocols; }); }},
    {"upstream_bytes_sent", [](const RequestContext& c, bool& found) {
         if (c.stream) return stream_list(c, &StreamFacts::upstream_bytes_sent, found);
         found = !c.upstream_bytes_sent.empty();
         return c.upstream_bytes_sent;
     }},
    {"upstream_bytes_received", [](const RequestContext& c, bool& found) {
         if (c.stream) return stream_list(c, &StreamFacts::upstream_bytes_received, found);
         found = !c.upstream_bytes_received.empty();
         return c.upstream_bytes_received;
     }},
    {"upstream_first_byte_time", [](const RequestContext& c, bool& found) { return stream_list(c, &StreamFacts::upstream_first_byte_time, found); }},
    {"upstream_session_time", [](const RequestContext& c, bool& found) { return stream_list(c, &StreamFacts::upstream_session_time, found); }},
};

// Variables of the process.
constexpr Variable kProcessVariables[] = {
    {"pid", [](const RequestContext&, bool&) { return std::to_string(::getpid()); }},
    {"nginx_version", [](const RequestContext&, bool&) { return std::string("1.22.1"); }},
    {"hostname", [](const RequestContext&, bool&) {
         char buf[256] = {};
         ::gethostname(buf, sizeof buf - 1);
         return std::string(buf);
     }},
};

// $ssl_*: ngx_http_ssl_variable, where an empty value is "not found".
template <TlsVariable V>
std::string ssl_value(const RequestContext& c, bool& found) {
    std::optional<std::string> v = tls_variable(V, c.connection.ssl);
    found = v && !v->empty();
    return found ? std::move(*v) : std::string();
}

// Variables of the connection's TLS.
constexpr Variable kTlsVariables[] = {
    {"ssl_protocol", ssl_value<TlsVariable::protocol>},
    {"ssl_cipher", ssl_value<TlsVariable::cipher>},
    {"ssl_ciphers", ssl_value<TlsVariable::ciphers>},
    {"ssl_curve", ssl_value<TlsVariable::curve>},
    {"ssl_curves", ssl_value<TlsVariable::curves>},
    {"ssl_session_id", ssl_value<TlsVariable::session_id>},
    {"ssl_session_reused", ssl_value<TlsVariable::session_reused>},
    {"ssl_server_name", ssl_value<TlsVariable::server_name>},
    {"ssl_alpn_protocol", ssl_value<TlsVariable::alpn_protocol>},
    {"ssl_client_verify", ssl_value<TlsVariable::client_verify>},
    {"ssl_client_s_dn", ssl_value<TlsVariable::client_s_dn>},
    {"ssl_client_i_dn", ssl_value<TlsVariable::client_i_dn>},
    {"ssl_client_s_dn_legacy", ssl_value<TlsVariable::client_s_dn_legacy>},
    {"ssl_client_i_dn_legacy", ssl_value<TlsVariable::client_i_dn_legacy>},
    {"ssl_client_serial", ssl_value<TlsVariable::client_serial>},
    {"ssl_client_fingerprint", ssl_value<TlsVariable::client_fingerprint>},
    {"ssl_client_cert", ssl_value<TlsVariable::client_cert>},
    {"ssl_client_raw_cert", ssl_value<TlsVariable::client_raw_cert>},
    {"ssl_client_escaped_cert", ssl_value<TlsVariable::client_escaped_cert>},
    {"ssl_client_v_start", ssl_value<TlsVariable::client_v_start>},
    {"ssl_client_v_end", ssl_value<TlsVariable::client_v_end>},
    {"ssl_client_v_remain", ssl_value<TlsVariable::client_v_remain>},
};

// $http_*: Cookie and X-Forwarded-For join every line of theirs ("; ", ", "), as nginx's
// multi headers; any other header is its first line.
std::string request_header(const RequestContext& ctx, std::string_view want, bool& found) {
    const char* joiner = want == "cookie" ? "; " : want == "x_forwarded_for" ? ", " : nullptr;
    std::string joined;
    bool any = false;
    for (const auto& [k, v] : ctx.request.headers) {
        if (!header_name_matches(k, want)) continue;
        if (!joiner) return std::string(v);
        if (any) joined += joiner;
        joined += v;
        any = true;
    }
    found = any;
    return joined;
}

std::string argument(const RequestContext& ctx, std::string_view want, bool& found) {
    std::string_view args = ctx.request.args;
    while (!args.empty()) {
        auto amp = args.find('&');
        std::string_view pair = args.substr(0, amp);
        auto eq = pair.find('=');
        if (iequal(pair.substr(0, eq), want)) return std::string(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        args.remove_prefix(amp + 1);
    }
    found = false;
    return {};
}

// The fields named `want` of an answer's head as the header filter writes them: those of
// its own members first, then its list, Accept-Ranges last. `take` gets each value in
// that order until it returns true; the values last until the next http_date.
template <class Take>
void sent_fields(const ResponseHead& r, std::string_view want, Take take) {
    const auto field = [&](std::string_view name, std::string_view value) { return header_name_matches(name, want) && take(value); };
    if (!r.content_type.empty() && field("Content-Type", r.content_type)) return;
    if (r.content_length && !r.chunked && header_name_matches("Content-Length", want)) {
        char digits[24];
        const char* end = std::to_chars(digits, digits + sizeof digits, *r.content_length).ptr;
        if (take(std::string_view(digits, static_cast<std::size_t>(end - digits)))) return;
    }
    if (r.last_modified && !r.last_modified_listed && field("Last-Modified", http_date(*r.last_modified))) return;
    if (!r.location.empty() && field("Location", r.location)) return;
    if (r.chunked && field("Transfer-Encoding", "chunked")) return;
    for (const auto& [name, value] : r.headers)
        if (field(name, value)) return;
    if (r.accept_ranges) field("Accept-Ranges", "bytes");
}

// $sent_http_*: Cache-Control and Link join every line of theirs with ", ", as nginx's.
std::string response_header(const RequestContext& ctx, std::string_view want, bool& found) {
    // nginx's own, from r->keepalive, which it has cleared by the time it logs.
    if (want == "connection") return ctx.status == 101 ? "upgrade" : "close";
    if (want == "keep_alive") {  // likewise gone at log time: not found
        found = false;
        return {};
    }
    const bool multi = want == "cache_control" || want == "link";
    std::string joined;
    bool any = false;
    if (ctx.sent_head)
        sent_fields(*ctx.sent_head, want, [&](std::string_view v) {
            if (any) joined += ", ";
            joined += v;
            any = true;
            return !multi;
        });
    if (any) return joined;
    if (multi) {
        for (const auto& v : headers_in_block(ctx.sent_header_block, want)) {
            if (any) joined += ", ";
            joined += v;
            any = true;
        }
        found = any;
        return joined;
    }
    std::optional<std::string> v = header_in_block(ctx.sent_header_block, want);
    found = v.has_value();
    return v.value_or("");
}

std::string response_trailer(const RequestContext& ctx, std::string_view want, bool& found) {
    for (const auto& [k, v] : ctx.response_trailers)
        if (header_name_matches(k, want)) return v;
    found = false;
    return {};
}

// Each Set-Cookie of the upstream's answer: the first cookie of that name.
std::string upstream_cookie(const RequestContext& ctx, std::string_view want, bool& found) {
    for (const auto& line : headers_in_block(ctx.upstream_headers, "set_cookie"))
        if (auto v = cookie_value(line, want, false)) return *v;
    found = false;
    return {};
}

std::string upstream_header(const RequestContext& ctx, std::string_view want, bool& found) {
    std::optional<std::string> v = header_in_block(ctx.upstream_headers, want);
    found = v.has_value();
    return v.value_or("");
}

std::string request_cookie(const RequestContext& ctx, std::string_view want, bool& found) {
    for (const auto& [k, v] : ctx.request.headers)
        if (iequal(k, "Cookie"))
            if (auto value = cookie_value(v, want, true)) return *value;
    found = false;
    return {};
}

constexpr std::pair<std::string_view, PrefixedGetter> kPrefixedVariables[] = {
    {"http_", request_header},         {"arg_", argument},
    {"sent_http_", response_header},   {"sent_trailer_", response_trailer},
    {"upstream_cookie_", upstream_cookie}, {"upstream_http_", upstream_header},
    {"cookie_", request_cookie},
};

// The getters by row of ir::kBuiltinVariables (every row of a name: http's and stream's);
// a name nginx does not have does not build.
template <class Getter, std::size_t N>
constexpr std::array<Getter, std::size(ir::kBuiltinVariables)> by_row(
    const std::array<std::span<const std::pair<std::string_view, Getter>>, N>& groups) {
    std::array<Getter, std::size(ir::kBuiltinVariables)> rows{};
    for (const auto& group : groups)
        for (const auto& [name, getter] : group) {
            bool known = false;
            for (std::size_t row = 0; row < rows.size(); ++row)
                if (ir::kBuiltinVariables[row].name == name) rows[row] = getter, known = true;
            if (!known) throw "not a variable of nginx 1.22.1";
        }
    return rows;
}

using Group = std::span<const Variable>;
constexpr auto kGetterRows = by_row<BuiltinGetter, 7>(
    {Group(kConnectionVariables), Group(kRequestVariables), Group(kUpstreamVariables), Group(kFilesVariables),
     Group(kStreamVariables), Group(kProcessVariables), Group(kTlsVariables)});
constexpr auto kPrefixedRows =
    by_row<PrefixedGetter, 1>({std::span<const std::pair<std::string_view, PrefixedGetter>>(kPrefixedVariables)});

}  // namespace

BuiltinGetter builtin_getter(std::size_t row) { return row < kGetterRows.size() ? kGetterRows[row] : nullptr; }

PrefixedGetter prefixed_getter(std::size_t row) { return row < kPrefixedRows.size() ? kPrefixedRows[row] : nullptr; }

std::string RequestContext::remote_port() const { return port_text(real_port < 0 ? connection.remote_port : real_port); }

}  // namespace ngxlite::runtime
