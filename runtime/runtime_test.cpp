#define BOOST_TEST_MODULE runtime
#include <boost/test/unit_test.hpp>

#include "runtime/http_session.hpp"
#include "runtime/router.hpp"

using namespace ngxlite;

namespace {
ir::Location loc(ir::LocationMatch m, std::string name) {
    ir::Location l;
    l.match = m;
    l.name = std::move(name);
    if (m == ir::LocationMatch::regex || m == ir::LocationMatch::regex_caseless)
        l.regex = std::make_shared<ir::Regex>(l.name, m == ir::LocationMatch::regex_caseless);
    return l;
}
std::string match(const std::vector<ir::Location>& ls, std::string_view uri) {
    auto m = runtime::find_location(ls, uri);
    return m.location ? m.location->name : "";
}
}  // namespace

BOOST_AUTO_TEST_CASE(nginx_location_algorithm) {
    // Already in match order, as the compiler emits them.
    std::vector<ir::Location> ls;
    ls.push_back(loc(ir::LocationMatch::prefix, "/"));
    ls.push_back(loc(ir::LocationMatch::exact, "/exact"));
    ls.push_back(loc(ir::LocationMatch::prefix_no_regex, "/img/"));
    ls.push_back(loc(ir::LocationMatch::prefix, "/static/"));
    ls.push_back(loc(ir::LocationMatch::regex, "\\.png$"));
    ls.push_back(loc(ir::LocationMatch::regex_caseless, "\\.JPG$"));
    BOOST_TEST(match(ls, "/exact") == "/exact");
    BOOST_TEST(match(ls, "/exact/more") == "/");
    BOOST_TEST(match(ls, "/img/a.png") == "/img/");      // ^~ stops the regexes
    BOOST_TEST(match(ls, "/static/a.png") == "\\.png$");  // a regex beats a longer prefix
    BOOST_TEST(match(ls, "/static/a.jpg") == "\\.JPG$");  // ~* ignores case
    BOOST_TEST(match(ls, "/static/a.css") == "/static/");
    BOOST_TEST(match(ls, "/A.PNG") == "/");                // ~ does not
}

BOOST_AUTO_TEST_CASE(server_names_by_nginx_precedence) {
    auto server = [](std::vector<std::string> names) {
        ir::HttpServer s;
        for (auto& n : names) s.names.push_back({n, n[0] == '~' ? std::make_shared<ir::Regex>(n.substr(1), true) : nullptr});
        return s;
    };
    ir::HttpServer def = server({"default"}), exact = server({"www.example.com"}), head = server({"*.example.com"}),
                   tail = server({"www.example.*"}), regex = server({"~^api\\d+\\.example\\.org$"});
    runtime::ServerSelector sel;
    sel.add(def, true);
    sel.add(exact, false);
    sel.add(head, false);
    sel.add(tail, false);
    sel.add(regex, false);
    BOOST_TEST(&sel.select("www.example.com") == &exact);
    BOOST_TEST(&sel.select("a.example.com") == &head);
    BOOST_TEST(&sel.select("www.example.net") == &tail);
    BOOST_TEST(&sel.select("api7.example.org") == &regex);
    BOOST_TEST(&sel.select("other") == &def);
}

BOOST_AUTO_TEST_CASE(uri_normalisation) {
    BOOST_TEST(*runtime::normalize_uri("/a//b/./c/../d", true) == "/a/b/d");
    BOOST_TEST(*runtime::normalize_uri("/a%20b/%2e%2e/c", true) == "/c");
    BOOST_TEST(*runtime::normalize_uri("/a/", true) == "/a/");
    BOOST_TEST(*runtime::normalize_uri("/a/..", true) == "/");
    BOOST_TEST(!runtime::normalize_uri("/..", true));
    BOOST_TEST(!runtime::normalize_uri("/a/../../b", true));
    // As nginx 1.22.1 answered them.
    BOOST_TEST(!runtime::normalize_uri("/%zz", true));
    BOOST_TEST(!runtime::normalize_uri("/a%2", true));
    BOOST_TEST(!runtime::normalize_uri("/%2e%2e/x", true));
    BOOST_TEST(*runtime::normalize_uri("/a/./b/../c/", true) == "/a/c/");
    BOOST_TEST(*runtime::normalize_uri("/a%20b", true) == "/a b");
}
