// What the stream and mail modules keep while compiling.
#pragma once

#include "parser/conf_tree.hpp"
#include "parser/http_state.hpp"
#include "parser/ir/config.hpp"
#include "parser/variables.hpp"

#include <memory>
#include <string>
#include <vector>

namespace ngxlite::conf {

struct StreamServerInfo {
    Directive* server = nullptr;
    std::vector<ir::Listen> listens;
    std::vector<std::string> listen_texts;  // as written, for "duplicate ... address and port pair"
    const Directive* ssl_listen = nullptr;  // the first `listen ... ssl`
};

struct StreamState {
    Directive* stream = nullptr;
    std::vector<StreamServerInfo> servers;
    UpstreamList upstreams;
    VariableScope variables{"ngx_stream"};
    std::vector<ir::LogFormat> log_formats;  // stream has no predefined "combined"
    std::vector<ir::Map> maps;
};

struct MailState {
    std::vector<Directive*> servers;
};

}  // namespace ngxlite::conf
