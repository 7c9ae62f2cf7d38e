#include "runtime/http/router.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace ngxlite::runtime {

void ServerSelector::add(const ir::HttpServer& server, bool is_default) {
    if (is_default || default_ == nullptr) default_ = &server;
    for (const auto& n : server.names) {
        const std::string& name = n.name;
        // The first server to claim a name keeps it (nginx warns about the others).
        if (n.regex) {
            regex_.emplace_back(n.regex, &server);
        } else if (name.size() > 1 && name[0] == '.') {
            exact_.emplace(name.substr(1), &server);
            head_.emplace_back(name, &server);
        } else if (name.size() > 2 && name.starts_with("*.")) {
            head_.emplace_back(name.substr(1), &server);
        } else if (name.size() > 2 && name.ends_with(".*")) {
            tail_.emplace_back(name.substr(0, name.size() - 1), &server);
        } else {
            exact_.emplace(name, &server);
        }
    }
}

const ir::HttpServer& ServerSelector::select(std::string_view host, RequestContext* ctx) const {
    const ir::HttpServer* found = find(host, ctx);
    return found ? *found : *default_;
}

const ir::HttpServer* ServerSelector::find(std::string_view host, RequestContext* ctx) const {
    if (auto it = exact_.find(host); it != exact_.end()) return it->second;
    // The longest matching wildcard wins, head before tail, as nginx's wildcard hashes.
    const ir::HttpServer* best = nullptr;
    std::size_t best_len = 0;
    for (const auto& [suffix, server] : head_)
        if (host.size() > suffix.size() && host.ends_with(suffix) && suffix.size() > best_len) {
            best = server;
            best_len = suffix.size();
        }
    if (best) return best;
    for (const auto& [prefix, server] : tail_)
        if (host.size() > prefix.size() && host.starts_with(prefix) && prefix.size() > best_len) {
            best = server;
            best_len = prefix.size();
        }
    if (best) return best;
    for (const auto& [re, server] : regex_) {
        std::vector<std::string> captures;
        if (!re->match(host, &captures)) continue;
        if (ctx) ctx->set_named_captures(*re, captures);
        return server;
    }
    return nullptr;
}

namespace {

bool is_static(const ir::Location& l) {
    return l.match == ir::LocationMatch::exact || l.match == ir::LocationMatch::prefix ||
           l.match == ir::LocationMatch::prefix_no_regex;
}

}  // namespace

LocationMatch find_location(const std::vector<ir::Location>& locations, std::string_view uri) {
    LocationMatch result;
    const ir::Location* prefix = nullptr;
    const ir::Location* redirect = nullptr;
    for (const auto& l : locations) {
        if (!is_static(l)) continue;
        if (l.auto_redirect && l.name.size() == uri.size() + 1 && l.name.starts_with(uri)) redirect = &l;
        if (l.match == ir::LocationMatch::exact) {
            if (uri == l.name) {
                result.location = &l;
                return result;
            }
            continue;
        }
        if (uri.starts_with(l.name) && (!prefix || l.name.size() > prefix->name.size())) prefix = &l;
    }
    // ngx_http_core_find_static_location's NGX_DONE: no location is named the URI itself.
    if (redirect && !(prefix && prefix->name.size() == uri.size())) {
        result.location = redirect;
        result.redirect = true;
        return result;
    }
    if (prefix) {
        result.location = prefix;
        if (!prefix->locations.empty()) {
            LocationMatch nested = find_location(prefix->locations, uri);
            if (nested.location) return nested;
        }
        if (prefix->match == ir::LocationMatch::prefix_no_regex) return result;
    }
    for (const auto& l : locations) {
        if (l.match != ir::LocationMatch::regex && l.match != ir::LocationMatch::regex_caseless) continue;
        std::vector<std::string> captures;
        if (l.regex->match(uri, &captures)) {
            result.location = &l;
            result.captures = std::move(captures);
            if (!l.locations.empty()) {
                LocationMatch nested = find_location(l.locations, uri);
                if (nested.location) return nested;
            }
            return result;
        }
    }
    return result;
}

const ir::Location* find_named(const std::vector<ir::Location>& locations, std::string_view name) {
    for (const auto& l : locations)
        if (l.match == ir::LocationMatch::named && l.name == name) return &l;
    return nullptr;
}

}  // namespace ngxlite::runtime
