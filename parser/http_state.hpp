// What the http module keeps while compiling: nginx's cmcf->ports, upstreams, servers,
// variables, log formats and shared memory zones, before they become IR.
#pragma once

#include "parser/conf_tree.hpp"
#include "parser/ir/config.hpp"
#include "parser/variables.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ngxlite::conf {

struct HttpListenAddress {
    ir::Listen options;           // the options in force for this address:port
    std::string addr_text;        // "0.0.0.0:80", "[::]:443"
    bool options_set = false;     // a socket option was given (nginx's lsopt.set)
    bool bind = false;
    const Directive* default_server = nullptr;
    std::vector<const Directive*> servers;  // server blocks listening here
};

struct HttpServerInfo {
    Directive* server = nullptr;   // the `server {` directive
    bool has_listen = false;
    std::vector<std::string> names;  // lowercased, as nginx hashes them (regex names excluded)
};

struct UpstreamInfo {
    std::string host;             // the name ("backend" or "backend.example.com")
    std::string url;              // as written in proxy_pass / upstream
    std::uint16_t port = 0;
    bool no_port = true;
    bool explicit_block = false;  // defined by an upstream {} block
    std::vector<ir::Endpoint> addrs;  // a literal address needs no resolving
    SourceRef where;
    Directive* block = nullptr;
    std::vector<ir::UpstreamServer> servers;
    ir::Balancer balancer = ir::Balancer::round_robin;
    bool balancer_set = false;
};

struct HttpState {
    Directive* http = nullptr;
    std::vector<HttpListenAddress> addresses;
    std::vector<HttpServerInfo> servers;
    std::vector<std::unique_ptr<UpstreamInfo>> upstreams;
    VariableScope variables{"ngx_http"};
    std::vector<ir::LogFormat> log_formats;  // "combined" is added with the http block
    std::vector<ir::Map> maps;
    bool has_log_format(std::string_view name) const;

    UpstreamInfo* find_upstream(std::string_view host);
};

}  // namespace ngxlite::conf
