// nginx's headers module: `expires` and `add_header` on an answer.
#include "runtime/http/handlers.hpp"

#include "runtime/http/response.hpp"
#include "runtime/core/text.hpp"

#include <algorithm>
#include <iterator>

namespace ngxlite::runtime {

std::optional<std::pair<std::string, std::string>> expires_headers(const ir::Location& loc,
                                                                   std::optional<std::time_t> last_modified, std::time_t now) {
    using Expires = ir::Location::Expires;
    switch (loc.expires) {
    case Expires::off: return std::nullopt;
    case Expires::epoch: return std::pair{std::string("Thu, 01 Jan 1970 00:00:01 GMT"), std::string("no-cache")};
    case Expires::max: return std::pair{std::string("Thu, 31 Dec 2037 23:55:55 GMT"), std::string("max-age=315360000")};
    default: break;
    }
    std::time_t at = 0;
    std::int64_t max_age = 0;
    if (loc.expires == Expires::daily) {  // ngx_next_time: that time of day, today or tomorrow
        std::tm tm{};
        ::localtime_r(&now, &tm);
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        at = std::mktime(&tm) + loc.expires_seconds;
        if (at <= now) at += 86400;
        max_age = at - now;
    } else if (loc.expires == Expires::access || !last_modified) {
        at = now + loc.expires_seconds;
        max_age = loc.expires_seconds;
    } else {
        at = *last_modified + loc.expires_seconds;
        max_age = at - now;
    }
    const bool no_cache = loc.expires_seconds < 0 || max_age < 0;
    return std::pair{std::string(http_date(at)), no_cache ? std::string("no-cache") : "max-age=" + std::to_string(max_age)};
}

namespace {

// ngx_http_set_expires: the answer's first `name` gets `value`, its later ones go; with
// none, it is added.
void set_expires_field(HeaderList& headers, std::string_view name, std::string_view value) {
    auto first = headers.find(name);
    if (first == headers.end()) return headers.add_view(name, headers.keep(value));
    headers.set_value(first, value);
    for (auto it = headers.end(); it != first + 1;) {
        --it;
        if (iequal(it->name, name)) headers.erase(it);
    }
}

}  // namespace

void add_location_headers(ResponseHead& r, const ir::Location& loc, RequestContext& ctx, std::time_t now) {
    // add_header applies to 200, 201, 204, 206, 301, 302, 303, 304, 307, 308 unless `always`.
    static constexpr int kinds[] = {200, 201, 204, 206, 301, 302, 303, 304, 307, 308};
    const bool ok = std::find(std::begin(kinds), std::end(kinds), r.status) != std::end(kinds);
    if (ok)
        if (auto e = expires_headers(loc, r.last_modified, now)) {
            set_expires_field(r.headers, "Expires", e->first);
            set_expires_field(r.headers, "Cache-Control", e->second);
        }
    if (loc.add_headers.empty()) return;
    // Each value sees the headers added before it ($sent_http_*); Accept-Ranges comes later.
    const bool ranges = std::exchange(r.accept_ranges, false);
    ctx.sent_head = &r;
    for (const auto& h : loc.add_headers) {
        if (!ok && !h.always) continue;
        std::string v = expand(h.value, ctx);
        // Last-Modified and ETag replace the answer's own (an empty value removes it), as
        // the headers module's set handlers do; the rest are added.
        const bool last_modified = iequal(h.name, "Last-Modified");
        if (last_modified || iequal(h.name, "ETag")) {
            if (last_modified) {
                r.last_modified = v.empty() ? std::nullopt : parse_http_time(v);
                r.last_modified_listed = !v.empty();
            }
            auto it = r.headers.find(h.name);
            if (v.empty()) {
                if (it != r.headers.end()) r.headers.erase(it);
            } else if (it != r.headers.end()) {
                r.headers.set_value(it, v);
            } else {
                r.headers.add_view(h.name, r.headers.keep(v));
            }
            continue;
        }
        if (v.empty()) continue;
        r.headers.add_view(h.name, r.headers.keep(v));
    }
    r.accept_ranges = ranges;
}

}  // namespace ngxlite::runtime
