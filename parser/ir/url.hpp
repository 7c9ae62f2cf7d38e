// nginx's ngx_parse_url: "host[:port][/uri]", "[v6]:port", "port", "*:port", "unix:/path".
#pragma once

#include "parser/ir/config.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ngxlite::ir {

struct UrlOptions {
    bool listen = false;      // a bare number is a port; "*" is the wildcard address
    bool uri_part = false;    // a "/uri" may follow
    bool no_resolve = false;  // keep host names unresolved
    std::uint16_t default_port = 0;
};

struct ParsedUrl {
    std::string err;          // nginx's u->err ("invalid port", "host not found", ...)
    std::string host;
    std::uint16_t port = 0;
    bool no_port = false;
    bool wildcard = false;
    bool unix_socket = false;
    std::string uri;
    std::vector<Endpoint> addrs;
};

ParsedUrl parse_url(std::string_view url, const UrlOptions& options);

// getaddrinfo() as nginx's ngx_inet_resolve_host uses it; empty when not found.
std::vector<Endpoint> resolve_host(const std::string& host, std::uint16_t port);

}  // namespace ngxlite::ir
