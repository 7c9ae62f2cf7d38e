#include "parser/ir/url.hpp"

#include "parser/ir/values.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/un.h>

#include <algorithm>

namespace ngxlite::ir {

std::vector<Endpoint> resolve_host(const std::string& host, std::uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::vector<Endpoint> out;
    if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return out;
    // nginx lists the IPv4 addresses first, then the IPv6 ones.
    for (int family : {AF_INET, AF_INET6}) {
        for (addrinfo* ai = res; ai; ai = ai->ai_next) {
            if (ai->ai_family != family) continue;
            char buf[INET6_ADDRSTRLEN] = {};
            const void* src = family == AF_INET
                                  ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
                                  : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
            ::inet_ntop(family, src, buf, sizeof buf);
            Endpoint e{buf, port, family == AF_INET6};
            if (std::find(out.begin(), out.end(), e) == out.end()) out.push_back(e);
        }
    }
    ::freeaddrinfo(res);
    return out;
}

namespace {

std::optional<std::uint16_t> port_number(std::string_view s) {
    auto n = parse_number(s);
    if (!n || *n < 1 || *n > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(*n);
}

ParsedUrl parse_inet6(std::string_view url, const UrlOptions& o) {
    ParsedUrl u;
    auto close = url.find(']');
    if (close == std::string_view::npos) {
        u.err = "invalid host";
        return u;
    }
    std::string_view rest = url.substr(close + 1);
    std::string_view addr = url.substr(1, close - 1);
    if (!rest.empty() && rest.front() == ':') {
        rest.remove_prefix(1);
        auto slash = rest.find_first_of("/?");
        std::string_view port = rest.substr(0, slash);
        if (slash != std::string_view::npos) {
            if (o.listen || !o.uri_part) {
                u.err = "invalid host";
                return u;
            }
            u.uri = rest.substr(slash);
        }
        auto p = port_number(port);
        if (!p) {
            u.err = "invalid port";
            return u;
        }
        u.port = *p;
    } else if (!rest.empty() && (rest.front() == '/' || rest.front() == '?') && o.uri_part && !o.listen) {
        u.uri = rest;
        u.no_port = true;
        u.port = o.default_port;
    } else if (!rest.empty()) {
        u.err = "invalid host";
        return u;
    } else {
        u.no_port = true;
        u.port = o.default_port;
    }
    u.host = "[" + std::string(addr) + "]";
    in6_addr a6{};
    if (::inet_pton(AF_INET6, std::string(addr).c_str(), &a6) != 1) {
        u.err = "invalid IPv6 address";
        return u;
    }
    char buf[INET6_ADDRSTRLEN];
    ::inet_ntop(AF_INET6, &a6, buf, sizeof buf);
    u.wildcard = IN6_IS_ADDR_UNSPECIFIED(&a6);
    u.addrs.push_back({buf, u.port, true});
    return u;
}

// ngx_parse_unix_domain_url: "unix:PATH[:URI]", the URI only where one may follow.
ParsedUrl parse_unix(std::string_view path, const UrlOptions& o) {
    ParsedUrl u;
    u.unix_socket = true;
    if (o.uri_part)
        if (const auto colon = path.find(':'); colon != std::string_view::npos) {
            u.uri = path.substr(colon + 1);
            path = path.substr(0, colon);
        }
    if (path.empty()) {
        u.err = "no path in the unix domain socket";
        return u;
    }
    if (path.size() + 1 > sizeof(sockaddr_un::sun_path)) {
        u.err = "too long path in the unix domain socket";
        return u;
    }
    u.host = std::string(path);
    u.no_port = true;
    u.addrs.push_back({u.host, 0, false, true});
    return u;
}

}  // namespace

ParsedUrl parse_url(std::string_view url, const UrlOptions& o) {
    ParsedUrl u;
    if (url.size() >= 5 && iequals(url.substr(0, 5), "unix:")) return parse_unix(url.substr(5), o);
    if (!url.empty() && url.front() == '[') return parse_inet6(url, o);

    std::string_view host = url;
    auto uri = host.find('/');
    auto args = host.find('?');
    if (args != std::string_view::npos && (uri == std::string_view::npos || args < uri)) uri = args;
    auto colon = host.find(':');
    if (uri != std::string_view::npos) {
        if (o.listen || !o.uri_part) {
            u.err = "invalid host";
            return u;
        }
        u.uri = host.substr(uri);
        host = host.substr(0, uri);
        if (uri < colon) colon = std::string_view::npos;
    }
    if (colon != std::string_view::npos) {
        auto p = port_number(host.substr(colon + 1));
        if (!p) {
            u.err = "invalid port";
            return u;
        }
        u.port = *p;
        host = host.substr(0, colon);
    } else {
        if (u.uri.empty() && o.listen) {
            if (auto n = parse_number(host)) {
                if (*n < 1 || *n > 65535) {
                    u.err = "invalid port";
                    return u;
                }
                u.port = static_cast<std::uint16_t>(*n);
                u.wildcard = true;
                u.host = "0.0.0.0";
                u.addrs.push_back({"0.0.0.0", u.port, false});
                return u;
            }
        }
        u.no_port = true;
        u.port = o.default_port;
    }
    if (host.empty()) {
        u.err = "no host";
        return u;
    }
    u.host = std::string(host);
    if (o.listen && host == "*") {
        u.wildcard = true;
        u.addrs.push_back({"0.0.0.0", u.port, false});
        return u;
    }
    in_addr a4{};
    if (::inet_pton(AF_INET, u.host.c_str(), &a4) == 1) {
        u.wildcard = a4.s_addr == INADDR_ANY;
        u.addrs.push_back({u.host, u.port, false});
        return u;
    }
    if (o.no_resolve) return u;
    u.addrs = resolve_host(u.host, u.port);
    if (u.addrs.empty()) u.err = "host not found";
    return u;
}

}  // namespace ngxlite::ir
