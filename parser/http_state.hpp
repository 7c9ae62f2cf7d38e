// What the http module keeps while compiling: nginx's cmcf->ports, upstreams, servers,
// variables, log formats and shared memory zones, before they become IR.
#pragma once

#include "parser/conf_tree.hpp"
#include "parser/ir/config.hpp"
#include "parser/upstreams.hpp"
#include "parser/variables.hpp"

#include <map>
#include <optional>
#include <unordered_map>
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
    std::vector<std::shared_ptr<const ir::Regex>> regex_names;  // ~names, in config order
    std::optional<std::string> first_name;  // the first server_name as nginx keeps it ("~re", lowercased)
    std::vector<ir::SourceLocation> unix_listens;  // listen unix:... (not served: refused at start)
};

struct HttpState {
    Directive* http = nullptr;
    std::vector<HttpListenAddress> addresses;
    std::vector<HttpServerInfo> servers;
    UpstreamList upstreams;
    VariableScope variables{"ngx_http"};
    std::vector<ir::LogFormat> log_formats;  // "combined" is added with the http block
    std::vector<ir::Map> maps;
    std::unordered_map<const Directive*, std::shared_ptr<const ir::MimeTypes>> types;  // per types {} block

};

}  // namespace ngxlite::conf
