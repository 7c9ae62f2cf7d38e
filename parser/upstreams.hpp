// Upstream groups as nginx registers them (ngx_http_upstream_add and its stream twin):
// explicit `upstream {}` blocks and the implicit ones proxy_pass creates, then their
// initialisation after the block closes (no servers, no port, host resolution).
#pragma once

#include "parser/conf_tree.hpp"
#include "parser/ir/config.hpp"
#include "parser/ir/url.hpp"

#include <memory>
#include <string>
#include <vector>

namespace ngxlite::conf {

class VariableScope;

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

using UpstreamList = std::vector<std::unique_ptr<UpstreamInfo>>;

// The index of the group a static proxy_pass registered with add_upstream (as
// ngx_*_upstream_add matched it: the host, and the port unless it is an upstream {}),
// or -1 (a unix socket has none).
int find_upstream(const UpstreamList& ups, const ir::ParsedUrl& u);

// Finds or adds the group `u` names; `create` for an upstream {} block.
UpstreamInfo& add_upstream(UpstreamList& ups, const Directive& d, const ir::ParsedUrl& u, const std::string& url,
                           bool create);

class Compiler;
// `upstream NAME { ... }` in http or stream: registers the group, parses its block as
// `context`, and requires a server in it, as nginx does when the block closes.
void upstream_block(Compiler& c, Directive& d, UpstreamList& ups, Context context);
// `server` inside it; `default_port` 80 in http, none (0) in stream.
void upstream_server(Compiler& c, Directive& d, UpstreamList& ups, std::uint16_t default_port);
// The group whose block is being parsed.
UpstreamInfo& current_upstream(Compiler& c, UpstreamList& ups);

// The group as the runtime sees it, or nginx's error: `port_required` in stream.
ir::UpstreamGroup init_upstream(const UpstreamInfo& up, bool port_required, VariableScope& vars);

}  // namespace ngxlite::conf
