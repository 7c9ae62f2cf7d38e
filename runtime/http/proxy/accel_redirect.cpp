#include "runtime/http/proxy/accel_redirect.hpp"

#include "runtime/http/response.hpp"
#include "runtime/core/text.hpp"

#include <algorithm>

namespace ngxlite::runtime {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(c | 0x20);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// ngx_unescape_uri (type 0): %XX becomes its byte; a '%' not followed by two hex digits
// is dropped with what of it was hex, the next byte kept.
std::string unescape(std::string_view in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out += in[i];
            continue;
        }
        if (i + 1 >= in.size()) break;
        const int high = hex_value(in[i + 1]);
        if (high < 0) {
            out += in[++i];
            continue;
        }
        if (i + 2 >= in.size()) break;
        const int low = hex_value(in[i + 2]);
        out += low < 0 ? in[i + 2] : static_cast<char>(high * 16 + low);
        i += 2;
    }
    return out;
}

}  // namespace

AccelRedirect accel_redirect(std::string_view target, const UpstreamHead& head, std::string upstream) {
    static constexpr std::string_view kept[] = {"Set-Cookie", "Content-Disposition", "Cache-Control", "Expires", "Accept-Ranges"};
    AccelRedirect a;
    a.target = std::string(target);
    a.upstream = std::move(upstream);
    for (const auto& h : head.headers()) {
        if (iequal(h.name, "Content-Type")) {
            if (a.content_type.empty()) a.content_type = std::string(h.value);
        } else if (std::any_of(std::begin(kept), std::end(kept), [&](std::string_view k) { return iequal(h.name, k); })) {
            a.headers.emplace_back(std::string(h.name), std::string(h.value));
        }
    }
    return a;
}

std::optional<Redirect> safe_redirect(const AccelRedirect& accel, const RequestContext& ctx, const ActiveConfig& cfg) {
    std::string uri(accel.target), args;
    bool args_present = false;
    for (;;) {
        bool quoted = false, unsafe = uri.empty() || uri[0] == '?' ||
                                      (uri.size() >= 2 && uri[0] == '.' && uri[1] == '.' && (uri.size() == 2 || uri[2] == '/'));
        for (std::size_t i = 0; i < uri.size() && !unsafe; ++i) {
            const char c = uri[i];
            const std::size_t left = uri.size() - i;  // nginx's len, this byte included
            if (c == '%') {
                quoted = true;
            } else if (c == '?') {
                args = uri.substr(i + 1);
                args_present = true;
                uri.resize(i);
                break;
            } else if (c == '\0') {
                unsafe = true;
            } else if (c == '/' && left > 2 && uri[i + 1] == '.' && uri[i + 2] == '.' && (left == 3 || uri[i + 3] == '/')) {
                unsafe = true;
            }
        }
        if (unsafe) {
            cfg.log_for(ctx).write(LogLevel::error,
                                   "unsafe URI \"" + uri + "\" was detected while reading response header from upstream" +
                                       describe(ctx, accel.upstream),
                                   ctx.connection.id);
            return std::nullopt;
        }
        if (!quoted) break;
        uri = unescape(uri);
    }
    Redirect r;
    r.active = true;
    r.uri = std::move(uri);
    r.args = std::move(args);
    r.args_present = args_present;
    return r;
}

std::optional<std::uint64_t> accel_limit_rate(const UpstreamHead& head) {
    const auto value = head.find("X-Accel-Limit-Rate");
    if (!value || value->empty()) return std::nullopt;
    std::uint64_t n = 0;
    for (const char c : *value) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

}  // namespace ngxlite::runtime
