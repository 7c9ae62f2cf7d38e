// The gzip filter's header decision (ngx_http_gzip_header_filter) and the core module's
// test of the request (ngx_http_gzip_ok, with its Accept-Encoding parser).
#include "runtime/http/filters/gzip_filter.hpp"

#include "runtime/core/text.hpp"
#include "runtime/http/handlers.hpp"
#include "runtime/http/request_head.hpp"

#include <algorithm>
#include <ctime>

namespace ngxlite::runtime {

namespace {

// gzip_proxied's bits (ir::Gzip::proxied).
constexpr std::uint32_t kProxiedOff = 1u << 1, kExpired = 1u << 2, kNoCache = 1u << 3, kNoStore = 1u << 4,
                        kPrivate = 1u << 5, kNoLastModified = 1u << 6, kNoEtag = 1u << 7, kAuth = 1u << 8,
                        kAny = 1u << 9;

// ngx_http_gzip_quantity: nonzero for "0.001" to "1.000" (nginx adds the decimals up
// without scaling them: "0.5" is 5, "1.0" 100); 0 for a zero, and for anything that is no
// quantity, which turn gzip off.
unsigned quantity(std::string_view q) {
    std::size_t p = 0;
    char c = q[p++];
    if (c != '0' && c != '1') return 0;
    unsigned value = static_cast<unsigned>(c - '0') * 100;
    if (p == q.size()) return value;
    c = q[p++];
    if (c == ',' || c == ' ') return value;
    if (c != '.') return 0;
    unsigned digits = 0;
    while (p < q.size()) {
        c = q[p++];
        if (c == ',' || c == ' ') break;
        if (c < '0' || c > '9') return 0;
        value += static_cast<unsigned>(c - '0');
        ++digits;
    }
    return value > 100 || digits > 3 ? 0 : value;
}

// ngx_http_gzip_accept_encoding: the first "gzip" (any case) that starts the value or
// follows ',' or ' ', then an optional ";q=" that is not 0.
bool accepts_gzip(std::string_view ae) {
    std::size_t p = 0;
    for (;;) {
        std::size_t at = std::string_view::npos;
        for (std::size_t i = p; i + 4 <= ae.size(); ++i)
            if (iequal(ae.substr(i, 4), "gzip")) {
                at = i;
                break;
            }
        if (at == std::string_view::npos) return false;
        if (at == p || ae[at - 1] == ',' || ae[at - 1] == ' ') {
            p = at + 4;
            break;
        }
        p = at + 4;
    }
    for (;;) {  // after the name: ',' ends it, ';' starts the parameters
        if (p >= ae.size()) return true;
        const char c = ae[p++];
        if (c == ',') return true;
        if (c == ';') break;
        if (c != ' ') return false;
    }
    for (;;) {
        if (p >= ae.size()) return true;
        const char c = ae[p++];
        if (c == 'q' || c == 'Q') break;
        if (c != ' ') return false;
    }
    if (p + 2 > ae.size() || ae[p++] != '=') return false;
    return quantity(ae.substr(p)) != 0;
}

// ngx_http_parse_multi_header_lines without a value: whether a Cache-Control field lists `token`.
bool cache_control_has(const HeaderList& headers, std::string_view token) {
    for (const HeaderField& f : headers) {
        if (!iequal(f.name, "Cache-Control") || token.size() > f.value.size()) continue;
        std::string_view v = f.value;
        std::size_t p = 0;
        while (p < v.size()) {
            if (iequal(v.substr(p, token.size()), token)) {
                std::size_t after = p + token.size();
                while (after < v.size() && v[after] == ' ') ++after;
                if (after == v.size() || v[after] == ',') return true;
            }
            while (p < v.size() && v[p] != ',') ++p;
            for (++p; p < v.size() && v[p] == ' ';) ++p;
        }
    }
    return false;
}

// gzip_proxied for a request that came through a proxy (Via): what the answer's headers
// allow.
bool proxied_ok(std::uint32_t p, const ResponseHead& r, const Request& req) {
    if (p & kProxiedOff) return false;
    if (p & kAny) return true;
    if ((p & kAuth) && req.header("Authorization")) return true;
    if (const std::string_view* expires = r.headers.value("Expires")) {
        if (!(p & kExpired)) return false;
        const auto at = parse_http_time(*expires);
        if (!at) return false;
        std::time_t date = std::time(nullptr);
        if (const std::string_view* d = r.headers.value("Date")) {
            const auto sent = parse_http_time(*d);
            if (!sent) return false;
            date = *sent;
        }
        return *at < date;
    }
    if (r.headers.value("Cache-Control"))
        return ((p & kNoCache) && cache_control_has(r.headers, "no-cache")) ||
               ((p & kNoStore) && cache_control_has(r.headers, "no-store")) ||
               ((p & kPrivate) && cache_control_has(r.headers, "private"));
    if ((p & kNoLastModified) && r.last_modified_listed) return false;
    if ((p & kNoEtag) && r.headers.value("ETag")) return false;
    return true;
}

// ngx_http_gzip_ok: the client takes gzip, and gzip_disable, gzip_http_version and
// gzip_proxied let it have it.
bool gzip_ok(const ir::Gzip& g, const ResponseHead& r, const Request& req) {
    const std::string_view* ae = req.header("Accept-Encoding");
    if (!ae || ae->size() < 4) return false;
    if (!ae->starts_with("gzip,") && !accepts_gzip(*ae)) return false;
    const std::string_view* ua = req.header("User-Agent");
    if (g.disable_msie6 && ua && user_agent_kind(*ua).msie6) return false;
    if (req.version < g.http_version) return false;
    if (req.header("Via") && !proxied_ok(g.proxied, r, req)) return false;
    return !ua || std::none_of(g.disable.begin(), g.disable.end(), [&](const auto& re) { return re->match(*ua, nullptr); });
}

// The Content-Type as ngx_http_test_content_type looks it up: lowercase, an upstream's
// cut before "; charset=" (ngx_http_upstream_copy_content_type).
std::string type_of(std::string_view type, bool upstream) {
    if (upstream)
        for (std::size_t semi = type.find(';'); semi != std::string_view::npos; semi = type.find(';', semi + 1)) {
            std::size_t p = semi + 1;
            while (p < type.size() && type[p] == ' ') ++p;
            if (iequal(type.substr(p, 8), "charset=")) {
                type = type.substr(0, semi);
                break;
            }
        }
    std::string lower(type);
    for (char& c : lower) c = ascii_lower(c);
    return lower;
}

bool type_listed(const ir::Gzip& g, std::string_view content_type, bool upstream) {
    if (g.any_type) return true;
    if (content_type.empty()) return false;
    const std::string type = type_of(content_type, upstream);
    return std::find(g.types.begin(), g.types.end(), type) != g.types.end();
}

// ngx_http_weak_etag: a strong ETag gets "W/"; one that is no quoted tag goes.
void weaken_etag(HeaderList& headers) {
    const auto etag = headers.find("ETag");
    if (etag == headers.end() || etag->value.starts_with("W/")) return;
    if (etag->value.empty() || etag->value[0] != '"') {
        headers.erase(etag);
        return;
    }
    headers.set_value(etag, "W/" + std::string(etag->value));
}

}  // namespace

void gzip_decide(ResponseHead& r, const ir::Gzip& g, const RequestContext& ctx, bool upstream) {
    if (r.status != 200 && r.status != 403 && r.status != 404) return;
    // nginx's headers_out.content_encoding: an upstream's (add_header's Content-Encoding is none).
    if (const std::string_view* encoding = upstream ? r.headers.value("Content-Encoding") : nullptr;
        encoding && !encoding->empty())
        return;
    if (r.content_length && static_cast<std::int64_t>(*r.content_length) < g.min_length) return;
    if (!type_listed(g, r.content_type, upstream)) return;
    r.vary_accept_encoding = g.vary;
    if (!gzip_ok(g, r, ctx.request)) return;
    r.gzip = {&g, r.content_length ? static_cast<std::int64_t>(*r.content_length) : -1};
    r.headers.add_view("Content-Encoding", "gzip");
    r.content_length.reset();
    r.accept_ranges = false;  // ngx_http_clear_accept_ranges: ours, or an upstream's
    if (const auto ranges = r.headers.find("Accept-Ranges"); ranges != r.headers.end()) r.headers.erase(ranges);
    weaken_etag(r.headers);
}

}  // namespace ngxlite::runtime
