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

const ir::HttpServer& ServerSelector::select(std::string_view host, RegexMatch* matched) const {
    const ir::HttpServer* found = find(host, matched);
    return found ? *found : *default_;
}

const ir::HttpServer* ServerSelector::find(std::string_view host, RegexMatch* matched) const {
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
        if (matched) *matched = {re.get(), std::move(captures)};
        return server;
    }
    return nullptr;
}

namespace {

// ngx_http_core_find_static_location's results.
enum class Found { declined, exact, inclusive, redirect };  // DECLINED, OK, AGAIN, DONE

// One level's exact and prefix locations through its tree; `found` is the location's
// index in that level.
Found find_static(const ir::StaticLocationTree& tree, std::string_view uri, int& found) {
    Found result = Found::declined;
    int index = tree.root;
    while (index >= 0) {
        const ir::StaticLocationTree::Node& node = tree.nodes[static_cast<std::size_t>(index)];
        const std::size_t length = node.name.size();
        if (const int rc = ir::filename_cmp(uri, node.name, std::min(uri.size(), length)); rc != 0) {
            index = rc < 0 ? node.left : node.right;
        } else if (uri.size() > length) {
            if (node.inclusive < 0) {  // an exact location only
                index = node.right;
                continue;
            }
            found = node.inclusive;
            result = Found::inclusive;
            index = node.tree;
            uri.remove_prefix(length);
        } else if (uri.size() == length) {
            // A prefix location named the URI is still a prefix match (regexes follow).
            found = node.exact >= 0 ? node.exact : node.inclusive;
            return node.exact >= 0 ? Found::exact : Found::inclusive;
        } else {
            // The URI is the name less its trailing '/': proxy_pass's redirect to it.
            if (uri.size() + 1 == length && node.auto_redirect) {
                found = node.exact >= 0 ? node.exact : node.inclusive;
                result = Found::redirect;
            }
            index = node.left;
        }
    }
    return result;
}

// ngx_http_core_find_location over one level: its tree, then the nested locations of a
// prefix match, then (unless `^~` or an exact match) the level's regexes in order, and
// the nested locations of the one that matched. `m` keeps the last location found.
Found find_in(const std::vector<ir::Location>& locations, const ir::StaticLocationTree& tree, std::string_view uri,
              LocationMatch& m) {
    int found = -1;
    Found rc = find_static(tree, uri, found);
    bool noregex = false;
    if (found >= 0) m.location = &locations[static_cast<std::size_t>(found)];
    if (rc == Found::inclusive) {
        noregex = m.location->match == ir::LocationMatch::prefix_no_regex;
        rc = find_in(m.location->locations, m.location->static_tree, uri, m);
    }
    if (rc == Found::exact || rc == Found::redirect) return rc;
    if (noregex) return rc;
    for (const auto& l : locations) {
        if (l.match != ir::LocationMatch::regex && l.match != ir::LocationMatch::regex_caseless) continue;
        std::vector<std::string> captures;
        if (!l.regex->match(uri, &captures)) continue;
        m.location = &l;
        m.regex = l.regex.get();
        m.captures = std::move(captures);
        find_in(l.locations, l.static_tree, uri, m);
        return Found::exact;
    }
    return rc;
}

}  // namespace

LocationMatch find_location(const ir::HttpServer& server, std::string_view uri) {
    LocationMatch m;
    m.redirect = find_in(server.locations, server.static_tree, uri, m) == Found::redirect;
    return m;
}

const ir::Location* find_named(const std::vector<ir::Location>& locations, std::string_view name) {
    for (const auto& l : locations)
        if (l.match == ir::LocationMatch::named && l.name == name) return &l;
    return nullptr;
}

}  // namespace ngxlite::runtime
