#include "runtime/http/proxy/proxy_request.hpp"

#include "runtime/http/response.hpp"
#include "runtime/core/text.hpp"
#include "runtime/upstream/upstream.hpp"

#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstdio>

namespace ngxlite::runtime {

namespace {

// nginx escapes the URI it sends when it rebuilt it from the decoded one.
std::string escape_uri(std::string_view uri) {
    return percent_escape(uri, [](unsigned char c) { return c <= 0x20 || c >= 0x7f || c == '"' || c == '#' || c == '%' || c == '?'; });
}

// A streamed chunked body's bytes as one chunk (none for no bytes), the last chunk after
// them at its end.
void append_chunk(std::string& out, std::string_view data, bool last) {
    if (!data.empty()) {
        char size[20];
        const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
        out.append(size, static_cast<std::size_t>(n)).append(data).append("\r\n");
    }
    if (last) out += "0\r\n\r\n";
}

}  // namespace

std::string upstream_uri(const ir::ProxySettings& p, const ir::Location& loc, const Request& req) {
    if (p.uri.empty() && req.valid_unparsed_uri) return std::string(req.request_uri);
    std::string_view rest = req.uri;
    std::string out;
    if (req.valid_location && !p.uri.empty()) {
        out = p.uri;
        if (loc.match == ir::LocationMatch::prefix || loc.match == ir::LocationMatch::prefix_no_regex ||
            loc.match == ir::LocationMatch::exact)
            rest.remove_prefix(std::min(rest.size(), loc.name.size()));
    }
    out += escape_uri(rest);
    if (!req.args.empty()) out += "?" + req.args;
    return out;
}

UpstreamRequest build_request(const ir::ProxySettings& p, const std::string& uri, RequestContext& ctx) {
    const Request& req = ctx.request;
    std::string set_body;
    if (p.set_body) set_body = expand(*p.set_body, ctx);
    ctx.proxy_body = p.set_body ? &set_body : &req.body;
    const std::string method = p.method ? expand(*p.method, ctx) : std::string(req.method);
    UpstreamRequest request;
    std::string& out = request.head;
    out.reserve(512);
    out.append(method).append(" ").append(uri).append(p.http_version_minor == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
    for (const auto& h : p.set_headers) {
        const std::string v = expand(h.value, ctx);
        if (!v.empty()) append_header(out, h.name, v);
    }
    if (p.pass_request_headers) {
        for (const auto& header : req.headers) {
            const std::string_view name = header.name;
            const bool set = std::any_of(p.set_headers.begin(), p.set_headers.end(),
                                         [&](const ir::HeaderSetting& h) { return iequal(h.name, name); });
            if (!set) append_header(out, name, header.value);
        }
    }
    out += "\r\n";
    if (p.set_body) out += set_body;
    else if (req.body_streamed && *req.body_streamed < 0) append_chunk(out, req.body, false);
    else if (p.pass_request_body) request.body = req.body;
    ctx.proxy_body = nullptr;  // set_body lives only here
    return request;
}

namespace {
// ngx_http_proxy_eval with "unix:PATH[:URI]": that socket, Host "localhost" (nginx's
// ngx_http_proxy_set_vars), or nginx's error and 500.
VariableTarget unix_variable_pass(std::string_view rest, RequestContext& ctx, const ActiveConfig& cfg, VariableTarget t) {
    UnixTarget unix = unix_upstream(rest, true, t.literal);
    if (!unix.error.empty()) {
        cfg.log_for(ctx).write(LogLevel::error, unix.error + " in upstream \"" + std::string(rest) + "\"" + describe(ctx),
                               ctx.connection.id);
        t.error = 500;
        return t;
    }
    t.uri = std::move(unix.uri);
    t.group = &*t.literal;
    ctx.proxy_host = "localhost";
    return t;
}
}  // namespace

Task<StreamedSend> send_streamed_body(TransportStream& upstream, StreamedBody& body, bool chunked, ir::Msec timeout) {
    std::string data, framed;
    for (;;) {
        data.clear();
        const BodyEnd end = co_await body.next(data);
        if (end != BodyEnd::more && end != BodyEnd::read) co_return StreamedSend{end, {}};
        const bool last = end == BodyEnd::read;
        std::string_view out = data;
        if (chunked) {
            framed.clear();
            append_chunk(framed, data, last);
            out = framed;
        }
        if (!out.empty()) {
            upstream.expires_after(timeout);
            auto [ec, n] = co_await asio::async_write(upstream, asio::buffer(out), use_tuple);
            if (ec) co_return StreamedSend{BodyEnd::more, ec};
        }
        if (last) co_return StreamedSend{};
    }
}

VariableTarget resolve_variable_pass(const ir::ProxySettings& p, RequestContext& ctx, const ir::HttpConfig& http,
                                     const ActiveConfig& cfg) {
    VariableTarget t;
    const std::string url = expand(p.pass_template, ctx);
    t.https = url.starts_with("https://");
    if (!t.https && !url.starts_with("http://")) {
        cfg.log_for(ctx).write(LogLevel::error, "invalid URL prefix in \"" + url + "\"" + describe(ctx), ctx.connection.id);
        t.error = 500;
        return t;
    }
    const std::uint16_t default_port = t.https ? 443 : 80;
    std::string_view rest = std::string_view(url).substr(t.https ? 8 : 7);
    if (rest.size() >= 5 && iequal(rest.substr(0, 5), "unix:")) return unix_variable_pass(rest, ctx, cfg, std::move(t));
    const auto slash = rest.find('/');
    if (slash != std::string_view::npos) t.uri = std::string(rest.substr(slash));
    std::string_view hostport = rest.substr(0, slash);
    const std::optional<HostPort> split = split_host_port(hostport);
    if (!split) {  // ngx_parse_url's error, with the URL after the scheme
        cfg.log_for(ctx).write(LogLevel::error, "invalid port in upstream \"" + std::string(rest) + "\"" + describe(ctx),
                               ctx.connection.id);
        t.error = 500;
        return t;
    }
    const auto [host, given_port, no_port] = *split;
    const std::uint16_t port = no_port ? default_port : given_port;
    ctx.proxy_host = std::string(no_port || port == default_port ? host : hostport);
    ctx.proxy_port = std::to_string(port);
    t.group = runtime_upstream(http.upstreams, host, port, no_port, hostport, t.literal);
    if (!t.group && p.resolver >= 0) {  // ngx_http_upstream_init_request: ngx_resolve_name
        t.resolve = std::string(host);
        t.port = port;
        return t;
    }
    if (!t.group) {
        cfg.log_for(ctx).write(LogLevel::error, "no resolver defined to resolve " + std::string(host) + describe(ctx), ctx.connection.id);
        t.error = 502;
    }
    return t;
}

}  // namespace ngxlite::runtime
