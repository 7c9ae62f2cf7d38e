#include "runtime/text.hpp"
#include "runtime/proxy.hpp"

#include "runtime/http_session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <unordered_map>

namespace ngxlite::runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Peer {
    const ir::Endpoint* endpoint;
    int weight;
};

// nginx's smooth weighted round robin, one state per worker thread and group.
class RoundRobin {
public:
    explicit RoundRobin(const ir::UpstreamGroup& g) {
        for (const auto& s : g.servers) {
            if (s.down || s.backup) continue;
            for (const auto& e : s.endpoints) peers_.push_back({&e, s.weight});
        }
        current_.assign(peers_.size(), 0);
    }
    // The next peer not in `tried`, or nullptr.
    const ir::Endpoint* next(const std::vector<const ir::Endpoint*>& tried) {
        int total = 0;
        std::size_t best = peers_.size();
        for (std::size_t i = 0; i < peers_.size(); ++i) {
            if (std::find(tried.begin(), tried.end(), peers_[i].endpoint) != tried.end()) continue;
            current_[i] += peers_[i].weight;
            total += peers_[i].weight;
            if (best == peers_.size() || current_[i] > current_[best]) best = i;
        }
        if (best == peers_.size()) return nullptr;
        current_[best] -= total;
        return peers_[best].endpoint;
    }
    std::size_t size() const { return peers_.size(); }

private:
    std::vector<Peer> peers_;
    std::vector<int> current_;
};

RoundRobin& balancer_for(const ir::UpstreamGroup& g) {
    thread_local std::unordered_map<const ir::UpstreamGroup*, RoundRobin> states;
    auto it = states.find(&g);
    if (it == states.end()) it = states.emplace(&g, RoundRobin(g)).first;
    return it->second;
}

// nginx escapes the URI it sends when it rebuilt it from the decoded one.
std::string escape_uri(std::string_view uri) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : uri) {
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '#' || c == '%' || c == '?') {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

// The request line's URI: proxy_pass with a URI part replaces the location's prefix.
std::string upstream_uri(const ir::ProxySettings& p, const ir::Location& loc, const Request& req) {
    if (p.uri.empty()) return req.request_uri;
    std::string_view rest = req.uri;
    if (loc.match == ir::LocationMatch::prefix || loc.match == ir::LocationMatch::prefix_no_regex ||
        loc.match == ir::LocationMatch::exact)
        rest.remove_prefix(std::min(rest.size(), loc.name.size()));
    std::string out = escape_uri(p.uri + std::string(rest));
    if (!req.args.empty()) out += "?" + req.args;
    return out;
}

std::string build_request(const ir::ProxySettings& p, const std::string& uri, const RequestContext& ctx) {
    const Request& req = ctx.request;
    std::string out = req.method + " " + uri + " HTTP/1." + std::to_string(p.http_version_minor) + "\r\n";
    for (const auto& h : p.set_headers) {
        const std::string v = expand(h.value, ctx);
        if (!v.empty()) out += h.name + ": " + v + "\r\n";
    }
    if (p.pass_request_headers) {
        for (const auto& header : req.headers) {
            const std::string& name = header.first;
            const bool set = std::any_of(p.set_headers.begin(), p.set_headers.end(),
                                         [&](const ir::HeaderSetting& h) { return iequal(h.name, name); });
            if (!set) out += name + ": " + header.second + "\r\n";
        }
    }
    out += "\r\n";
    if (p.pass_request_body) out += req.body;
    return out;
}

// Headers nginx does not pass from an upstream response (ngx_http_proxy_hide_headers),
// plus the ones it writes itself.
bool hidden(std::string_view name, const ir::ProxySettings& p) {
    static constexpr std::string_view always[] = {"Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length",
                                                  "Content-Type", "Last-Modified", "Location"};
    static constexpr std::string_view by_default[] = {"Date", "Server", "X-Pad", "X-Accel-Expires",
                                                      "X-Accel-Redirect", "X-Accel-Limit-Rate", "X-Accel-Buffering",
                                                      "X-Accel-Charset"};
    for (auto h : always)
        if (iequal(h, name)) return true;
    for (const auto& h : p.hide_headers)
        if (iequal(h, name)) return true;
    for (auto h : by_default)
        if (iequal(h, name))
            return std::none_of(p.pass_headers.begin(), p.pass_headers.end(), [&](const auto& x) { return iequal(x, name); });
    return false;
}

void log_error(const ActiveConfig& cfg, const RequestContext& ctx, const std::string& what, const std::string& upstream) {
    cfg.error_log.write(LogLevel::error, what + describe(ctx, upstream), ctx.connection.id);
}

}  // namespace

asio::awaitable<ProxyResult> proxy_http(beast::tcp_stream& client, const ir::Location& loc, RequestContext& ctx,
                                        const ActiveConfig& cfg, bool client_keep_alive) {
    ProxyResult result;
    const ir::ProxySettings& p = *loc.proxy;
    const ir::UpstreamGroup& group = cfg.ir->http->upstreams.at(static_cast<std::size_t>(p.upstream_index));
    RoundRobin& rr = balancer_for(group);
    ctx.proxy_host = p.proxy_host;
    const std::string uri = upstream_uri(p, loc, ctx.request);
    const std::string request = build_request(p, uri, ctx);

    auto executor = co_await asio::this_coro::executor;
    std::vector<const ir::Endpoint*> tried;
    const std::size_t max_tries = p.next_upstream_tries > 0 ? static_cast<std::size_t>(p.next_upstream_tries) : rr.size();
    while (tried.size() < max_tries) {
        const ir::Endpoint* peer = rr.next(tried);
        if (!peer) break;
        tried.push_back(peer);
        const std::string peer_url = "http://" + peer->text() + uri;
        ctx.upstream_addr += (ctx.upstream_addr.empty() ? "" : ", ") + peer->text();
        ctx.proxy_port = std::to_string(peer->port);
        beast::tcp_stream upstream(executor);
        upstream.expires_after(p.connect_timeout);
        const tcp::endpoint ep(asio::ip::make_address(peer->ip), peer->port);
        auto [cec] = co_await upstream.async_connect(ep, use_tuple);
        if (!cec) upstream.socket().set_option(tcp::no_delay(true), cec);
        if (cec) {
            const bool timeout = cec == beast::error::timeout;
            log_error(cfg, ctx,
                      timeout ? "upstream timed out (110: Connection timed out) while connecting to upstream"
                              : "connect() failed (" + std::to_string(cec.value()) + ": " + cec.message() +
                                    ") while connecting to upstream",
                      peer_url);
            ctx.upstream_status += (ctx.upstream_status.empty() ? "" : ", ") + std::string(timeout ? "504" : "502");
            if (!(p.next_upstream & (timeout ? ir::kNextTimeout : ir::kNextError))) {
                result.error_status = timeout ? 504 : 502;
                co_return result;
            }
            result.error_status = timeout ? 504 : 502;
            continue;
        }
        upstream.expires_after(p.send_timeout);
        auto [wec, wn] = co_await asio::async_write(upstream, asio::buffer(request), use_tuple);
        beast::flat_buffer ubuf;
        http::response_parser<http::buffer_body> parser;
        parser.body_limit(boost::none);
        upstream.expires_after(p.read_timeout);
        boost::system::error_code hec = wec;
        if (!hec) std::tie(hec, std::ignore) = co_await http::async_read_header(upstream, ubuf, parser, use_tuple);
        if (hec) {
            const bool timeout = hec == beast::error::timeout;
            log_error(cfg, ctx,
                      timeout ? "upstream timed out (110: Connection timed out) while reading response header from upstream"
                      : hec == http::error::end_of_stream || hec == asio::error::eof
                          ? "upstream prematurely closed connection while reading response header from upstream"
                          : "upstream sent invalid header while reading response header from upstream",
                      peer_url);
            result.error_status = timeout ? 504 : 502;
            if (!(p.next_upstream & (timeout ? ir::kNextTimeout : ir::kNextError))) co_return result;
            continue;
        }
        result.error_status = 0;
        auto& res = parser.get();
        const int status = static_cast<int>(res.result_int());
        ctx.status = status;
        ctx.upstream_status += (ctx.upstream_status.empty() ? "" : ", ") + std::to_string(status);
        const bool head = ctx.request.method == "HEAD";
        const bool no_body = head || status == 204 || status == 304 || (status >= 100 && status < 200);
        const bool length_known = parser.content_length().has_value();
        const bool chunked = !no_body && !length_known && ctx.request.version == 11;
        const bool keep = client_keep_alive && (no_body || length_known || chunked);

        std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(res.reason()) + "\r\n";
        out += "Server: " + server_header(loc.server_tokens) + "\r\n";
        out += "Date: " + http_date(std::time(nullptr)) + "\r\n";
        if (auto it = res.find(http::field::content_type); it != res.end()) out += "Content-Type: " + std::string(it->value()) + "\r\n";
        if (length_known) out += "Content-Length: " + std::to_string(*parser.content_length()) + "\r\n";
        if (auto it = res.find(http::field::last_modified); it != res.end()) out += "Last-Modified: " + std::string(it->value()) + "\r\n";
        if (auto it = res.find(http::field::location); it != res.end()) out += "Location: " + std::string(it->value()) + "\r\n";
        if (chunked) out += "Transfer-Encoding: chunked\r\n";
        out += keep ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
        for (const auto& f : res)
            if (!hidden(f.name_string(), p)) out += std::string(f.name_string()) + ": " + std::string(f.value()) + "\r\n";
        static constexpr int with_headers[] = {200, 201, 204, 206, 301, 302, 303, 304, 307, 308};
        const bool add = std::find(std::begin(with_headers), std::end(with_headers), status) != std::end(with_headers);
        for (const auto& h : loc.add_headers)
            if (add || h.always)
                if (std::string v = expand(h.value, ctx); !v.empty()) out += h.name + ": " + v + "\r\n";
        out += "\r\n";
        client.expires_after(std::chrono::seconds(60));
        auto [cwec, cwn] = co_await asio::async_write(client, asio::buffer(out), use_tuple);
        result.bytes_sent += cwn;
        if (cwec) co_return result;

        // The body, streamed through one reused buffer: never the whole of it in memory.
        // One 64 KiB buffer per proxied request, reused for the whole body.
        std::unique_ptr<char[]> storage(new char[65536]);
        char* chunk = storage.get();
        constexpr std::size_t chunk_size = 65536;
        if (!no_body && length_known) {
            // A known length needs no parser: what is buffered, then straight from the socket.
            std::uint64_t left = *parser.content_length();
            const std::size_t buffered = std::min<std::uint64_t>(ubuf.size(), left);
            if (buffered > 0) {
                auto [bec, bn] = co_await asio::async_write(client, asio::buffer(ubuf.data().data(), buffered), use_tuple);
                result.bytes_sent += bn;
                result.body_bytes_sent += bn;
                left -= buffered;
                if (bec) co_return result;
            }
            while (left > 0) {
                upstream.expires_after(p.read_timeout);
                auto [rec, rn] = co_await upstream.async_read_some(
                    asio::buffer(chunk, static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size, left))), use_tuple);
                if (rn > 0) {
                    client.expires_after(std::chrono::seconds(60));
                    auto [bec, bn] = co_await asio::async_write(client, asio::buffer(chunk, rn), use_tuple);
                    result.bytes_sent += bn;
                    result.body_bytes_sent += bn;
                    left -= rn;
                    if (bec) co_return result;
                }
                if (rec && left > 0) {
                    log_error(cfg, ctx, rec == beast::error::timeout
                                            ? "upstream timed out (110: Connection timed out) while reading upstream"
                                            : "upstream prematurely closed connection while reading upstream",
                              peer_url);
                    co_return result;  // truncated: close the client
                }
            }
            result.keep_alive = keep;
            co_return result;
        }
        while (!no_body && !parser.is_done()) {
            res.body().data = chunk;
            res.body().size = chunk_size;
            upstream.expires_after(p.read_timeout);
            auto [rec, rn] = co_await http::async_read(upstream, ubuf, parser, use_tuple);
            if (rec == http::error::need_buffer) rec = {};
            const std::size_t got = chunk_size - res.body().size;
            if (got > 0) {
                std::string frame;
                if (chunked) {
                    char len[32];
                    std::snprintf(len, sizeof len, "%zx\r\n", got);
                    frame = len;
                }
                std::array<asio::const_buffer, 3> parts{asio::buffer(frame), asio::buffer(chunk, got),
                                                        asio::buffer(chunked ? "\r\n" : "", chunked ? 2 : 0)};
                client.expires_after(std::chrono::seconds(60));
                auto [bec, bn] = co_await asio::async_write(client, parts, use_tuple);
                result.bytes_sent += bn;
                result.body_bytes_sent += bn;  // nginx counts the chunk framing as body
                if (bec) co_return result;
            }
            if (rec) {
                if (rec != http::error::end_of_stream && rec != http::error::partial_message)
                    log_error(cfg, ctx, rec == beast::error::timeout
                                            ? "upstream timed out (110: Connection timed out) while reading upstream"
                                            : "upstream prematurely closed connection while reading upstream",
                              peer_url);
                if (!parser.is_done() && (length_known || chunked)) co_return result;  // truncated: close the client
                break;
            }
        }
        if (chunked) {
            auto [eec, en] = co_await asio::async_write(client, asio::buffer("0\r\n\r\n", 5), use_tuple);
            result.bytes_sent += en;
            result.body_bytes_sent += en;
            if (eec) co_return result;
        }
        result.keep_alive = keep;
        co_return result;
    }
    if (result.error_status == 0) result.error_status = 502;
    if (tried.empty()) cfg.error_log.write(LogLevel::error, "no live upstreams while connecting to upstream" + describe(ctx), ctx.connection.id);
    co_return result;
}

}  // namespace ngxlite::runtime
