// Which server and which location a request reaches, by nginx's rules: server names
// (exact, *.head, tail.*, regex in order, then the default server of the address) and
// locations (exact, longest prefix, ^~, nested, then regexes in order).
#pragma once

#include "parser/ir/config.hpp"

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ngxlite::runtime {

// The servers of one listening address:port.
class ServerSelector {
public:
    void add(const ir::HttpServer& server, bool is_default);
    // A regex name that matched, with its groups (nginx makes the named ones variables).
    struct RegexMatch {
        const ir::Regex* regex = nullptr;
        std::vector<std::string> groups;
    };
    // `host` is the Host header (or request line host) lowercased, without port.
    const ir::HttpServer& select(std::string_view host, RegexMatch* matched = nullptr) const;
    // The server whose name matches `host`, or null (select falls back to the default).
    const ir::HttpServer* find(std::string_view host, RegexMatch* matched = nullptr) const;
    const ir::HttpServer& default_server() const { return *default_; }
    // `listen ... ssl`: connections start with a TLS handshake.
    bool tls = false;
    // `listen ... proxy_protocol`: connections start with a PROXY protocol header.
    bool proxy_protocol = false;

private:
    const ir::HttpServer* default_ = nullptr;
    // Looked up with the request's string_view: no string is built per request.
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, const ir::HttpServer*, NameHash, std::equal_to<>> exact_;
    std::vector<std::pair<std::string, const ir::HttpServer*>> head_;  // "*.example.com" as ".example.com"
    std::vector<std::pair<std::string, const ir::HttpServer*>> tail_;  // "www.example.*" as "www.example."
    std::vector<std::pair<std::shared_ptr<const ir::Regex>, const ir::HttpServer*>> regex_;
};

struct LocationMatch {
    const ir::Location* location = nullptr;  // null: none matched (the server level applies)
    const ir::Regex* regex = nullptr;        // the regex location's that matched, if one did
    std::vector<std::string> captures;       // its $1..
    bool redirect = false;  // `location` is an auto_redirect one named the URI and '/': 301 to it
};

// nginx's ngx_http_core_find_location over a server's locations: each level's static
// location tree, nested locations, regexes.
LocationMatch find_location(const ir::HttpServer& server, std::string_view uri);

// A named location (@name) of a server, for error_page and try_files.
const ir::Location* find_named(const std::vector<ir::Location>& locations, std::string_view name);

}  // namespace ngxlite::runtime
