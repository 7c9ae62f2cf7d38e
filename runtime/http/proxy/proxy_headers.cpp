#include "runtime/http/proxy/proxy_headers.hpp"

#include "runtime/core/text.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ngxlite::runtime {

namespace {

// ngx_http_proxy_rewrite_redirect from `prefix` on: a string rule replaces the part it
// starts with, a regex the whole rest.
std::optional<std::string> rewrite_redirect(const ir::ProxySettings& p, std::string_view value, std::size_t prefix,
                                            const RequestContext& ctx) {
    const std::string_view head = value.substr(0, prefix);
    const std::string_view rest = value.substr(prefix);
    for (const auto& r : p.redirects) {
        if (r.regex) {  // its captures serve its replacement only
            if (auto m = match_locally(*r.regex, rest)) return std::string(head) + expand(r.to, ctx, &*m);
            continue;
        }
        const std::string from = expand(r.from, ctx);
        if (rest.starts_with(from)) return std::string(head) + expand(r.to, ctx) + std::string(rest.substr(from.size()));
    }
    return std::nullopt;
}

// ngx_http_proxy_rewrite_refresh: the URL after the first "url=", any case.
std::optional<std::string> rewrite_refresh(const ir::ProxySettings& p, std::string_view value, const RequestContext& ctx) {
    for (std::size_t i = 0; i + 4 <= value.size(); ++i)
        if (iequal(value.substr(i, 4), "url=")) return rewrite_redirect(p, value, i + 4, ctx);
    return std::nullopt;
}

// One "name=value" (or bare "name") of a Set-Cookie, spaces around both trimmed.
struct CookieAttribute {
    std::string key;
    std::optional<std::string> value;
    bool removed = false;
};

std::string_view trim_spaces(std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
}

// ngx_http_proxy_parse_cookie: attributes split at ';'; the first is the cookie itself.
std::vector<CookieAttribute> parse_cookie(std::string_view value) {
    std::vector<CookieAttribute> attrs;
    for (;;) {
        const auto semi = value.find(';');
        const std::string_view part = value.substr(0, semi);
        const auto eq = part.find('=');
        CookieAttribute a{std::string(trim_spaces(part.substr(0, eq))), std::nullopt};
        if (eq != std::string_view::npos) a.value = std::string(trim_spaces(part.substr(eq + 1)));
        attrs.push_back(std::move(a));
        if (semi == std::string_view::npos) break;
        value.remove_prefix(semi + 1);
    }
    return attrs;
}

enum CookieFlag : std::uint32_t {
    kSecureOn = 1u << 0,
    kSecureOff = 1u << 1,
    kHttpOnlyOn = 1u << 2,
    kHttpOnlyOff = 1u << 3,
    kSameSiteStrict = 1u << 4,
    kSameSiteLax = 1u << 5,
    kSameSiteNone = 1u << 6,
    kSameSiteOff = 1u << 7,
};

std::uint32_t flag_bit(std::string_view name) {
    static constexpr std::pair<std::string_view, std::uint32_t> flags[] = {
        {"secure", kSecureOn},
        {"nosecure", kSecureOff},
        {"httponly", kHttpOnlyOn},
        {"nohttponly", kHttpOnlyOff},
        {"samesite=strict", kSameSiteStrict},
        {"samesite=lax", kSameSiteLax},
        {"samesite=none", kSameSiteNone},
        {"nosamesite", kSameSiteOff},
    };
    for (const auto& [text, bit] : flags)
        if (iequal(text, name)) return bit;
    return 0;  // nginx ignores an unknown flag a variable produced
}

// The flags of the first proxy_cookie_flags rule naming the cookie; 0: none applies.
std::uint32_t cookie_flags_for(const ir::ProxySettings& p, std::string_view cookie, const RequestContext& ctx) {
    for (const auto& rule : p.cookie_flags) {
        bool applies = false;
        if (rule.regex) {
            applies = rule.regex->match(cookie, nullptr);
        } else {
            applies = iequal(expand(rule.cookie, ctx), cookie);
        }
        if (!applies) continue;
        std::uint32_t bits = 0;
        for (const auto& f : rule.flags) bits |= flag_bit(expand(f, ctx));
        return bits;
    }
    return 0;
}

// ngx_http_proxy_edit_cookie_flags: flags present are kept, changed or removed; those
// still asked for are added at the end.
void edit_cookie_flags(std::vector<CookieAttribute>& attrs, std::uint32_t flags) {
    for (std::size_t i = 1; i < attrs.size(); ++i) {
        CookieAttribute& a = attrs[i];
        if (iequal(a.key, "secure")) {
            if (flags & kSecureOn) flags &= ~kSecureOn;
            else if (flags & kSecureOff) a.removed = true;
        } else if (iequal(a.key, "httponly")) {
            if (flags & kHttpOnlyOn) flags &= ~kHttpOnlyOn;
            else if (flags & kHttpOnlyOff) a.removed = true;
        } else if (iequal(a.key, "samesite")) {
            static constexpr std::pair<std::uint32_t, std::string_view> modes[] = {
                {kSameSiteStrict, "Strict"}, {kSameSiteLax, "Lax"}, {kSameSiteNone, "None"}};
            bool set = false;
            for (const auto& [bit, text] : modes) {
                if (!(flags & bit)) continue;
                flags &= ~bit;
                if (!a.value || !iequal(*a.value, text)) a = {"SameSite", std::string(text)};
                set = true;
                break;
            }
            if (!set && (flags & kSameSiteOff)) a.removed = true;
        }
    }
    if (flags & kSecureOn) attrs.push_back({"Secure", std::nullopt});
    if (flags & kHttpOnlyOn) attrs.push_back({"HttpOnly", std::nullopt});
    if (flags & kSameSiteStrict) attrs.push_back({"SameSite", "Strict"});
    else if (flags & kSameSiteLax) attrs.push_back({"SameSite", "Lax"});
    else if (flags & kSameSiteNone) attrs.push_back({"SameSite", "None"});
}

// ngx_http_proxy_rewrite_cookie_value: the first rule that applies rewrites the value.
// A domain rule compares the value without its leading dot, whole and in any case; a path
// rule its start; a regex the whole value, which its replacement takes the place of.
bool rewrite_cookie_value(const std::vector<ir::ProxyCookieRewrite>& rules, bool domain, std::string& value,
                          const RequestContext& ctx) {
    for (const auto& rule : rules) {
        if (rule.regex) {  // its captures serve its replacement only
            auto m = match_locally(*rule.regex, value);
            if (!m) continue;
            value = expand(rule.replacement, ctx, &*m);
            return true;
        }
        const std::string pattern = expand(rule.pattern, ctx);
        const std::size_t start = domain && value.starts_with('.') ? 1 : 0;
        const std::string_view rest = std::string_view(value).substr(start);
        const bool applies = domain ? iequal(rest, pattern) : rest.starts_with(pattern);
        if (!applies) continue;
        value.replace(start, pattern.size(), expand(rule.replacement, ctx));
        return true;
    }
    return false;
}

// ngx_http_proxy_rewrite_cookie: domain= and path= rewritten, the flags edited; the cookie
// is rebuilt as "a=b; c; d=e" only when one of them applied.
std::optional<std::string> rewrite_cookie(const ir::ProxySettings& p, std::string_view value, const RequestContext& ctx) {
    if (p.cookie_flags.empty() && p.cookie_domains.empty() && p.cookie_paths.empty()) return std::nullopt;
    std::vector<CookieAttribute> attrs = parse_cookie(value);
    if (!attrs.front().value) return std::nullopt;  // no "name=": not a cookie nginx edits
    bool changed = false;
    for (std::size_t i = 1; i < attrs.size(); ++i) {
        CookieAttribute& a = attrs[i];
        if (!a.value) continue;
        if (iequal(a.key, "domain")) changed |= rewrite_cookie_value(p.cookie_domains, true, *a.value, ctx);
        if (iequal(a.key, "path")) changed |= rewrite_cookie_value(p.cookie_paths, false, *a.value, ctx);
    }
    if (const std::uint32_t flags = cookie_flags_for(p, attrs.front().key, ctx); flags != 0) {
        edit_cookie_flags(attrs, flags);
        changed = true;
    }
    if (!changed) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < attrs.size(); ++i) {
        if (attrs[i].removed) continue;
        if (i > 0) out += "; ";
        out += attrs[i].key;
        if (attrs[i].value) out.append("=").append(*attrs[i].value);
    }
    return out;
}

}  // namespace

std::optional<std::string> rewrite_location(const ir::ProxySettings& p, std::string_view value, const RequestContext& ctx) {
    return rewrite_redirect(p, value, 0, ctx);
}

std::optional<std::string> rewrite_header(const ir::ProxySettings& p, std::string_view name, std::string_view value,
                                          const RequestContext& ctx) {
    if (iequal(name, "Refresh")) return rewrite_refresh(p, value, ctx);
    if (iequal(name, "Set-Cookie")) return rewrite_cookie(p, value, ctx);
    return std::nullopt;
}

}  // namespace ngxlite::runtime
