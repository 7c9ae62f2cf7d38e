// Unit tests of the runtime's parts that run without sockets (routing, balancers,
// timers, TLS helpers). Over 600 lines: one short case per behaviour, each read alone.
#define BOOST_TEST_MODULE runtime
#include <boost/test/unit_test.hpp>

#include "runtime/tls/client_hello.hpp"
#include "runtime/io/timed_stream.hpp"
#include "runtime/http/response.hpp"
#include "runtime/core/text.hpp"
#include "runtime/core/timer_tree.hpp"
#include "runtime/http/router.hpp"
#include "runtime/upstream/resolver.hpp"
#include "runtime/http/modules/rewrite.hpp"
#include "runtime/core/logs.hpp"
#include "runtime/tls/tls.hpp"
#include "runtime/io/unix_socket.hpp"
#include "runtime/upstream/upstream.hpp"
#include "parser/variables.hpp"

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <map>
#include <optional>
#include <openssl/ssl.h>

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
// A level as the compiler leaves it: nested levels with their trees too (none for a
// regex location's).
void plant(std::vector<ir::Location>& ls, ir::StaticLocationTree& tree, bool regex = false) {
    for (auto& l : ls) plant(l.locations, l.static_tree, l.regex != nullptr);
    if (!regex) tree = ir::build_static_location_tree(ls);
}
std::string match(const std::vector<ir::Location>& ls, std::string_view uri) {
    ir::HttpServer server;
    server.locations = ls;
    plant(server.locations, server.static_tree);
    auto m = runtime::find_location(server, uri);
    return (m.redirect ? "301 " : "") + (m.location ? m.location->name : "");
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

BOOST_AUTO_TEST_CASE(nginx_static_location_tree) {
    std::vector<ir::Location> ls;
    for (const char* name : {"/", "/s", "/s-t", "/s/t", "/s.t", "/sa", "/same", "/x.png"})
        ls.push_back(loc(ir::LocationMatch::prefix, name));
    ls.push_back(loc(ir::LocationMatch::exact, "/same"));
    ir::Location a = loc(ir::LocationMatch::prefix, "/a/");
    a.locations.push_back(loc(ir::LocationMatch::prefix, "/a/b/"));
    a.locations.push_back(loc(ir::LocationMatch::regex, "\\.txt$"));
    ls.push_back(a);
    ir::Location dir = loc(ir::LocationMatch::prefix, "/dir/");
    dir.auto_redirect = true;
    ls.push_back(dir);
    ir::Location cap = loc(ir::LocationMatch::regex, "/cap/");
    cap.locations.push_back(loc(ir::LocationMatch::prefix, "/cap/x"));  // never searched, as in nginx
    ls.push_back(cap);
    ls.push_back(loc(ir::LocationMatch::regex, "\\.png$"));
    BOOST_TEST(match(ls, "/s/x") == "/s");  // '/' sorts below every character
    BOOST_TEST(match(ls, "/s/t/x") == "/s/t");
    BOOST_TEST(match(ls, "/s-t/x") == "/s-t");
    BOOST_TEST(match(ls, "/s.tx") == "/s.t");
    BOOST_TEST(match(ls, "/s1") == "/s");
    BOOST_TEST(match(ls, "/same") == "/same");  // the exact one (nginx joins the two)
    BOOST_TEST(match(ls, "/samex") == "/same");
    BOOST_TEST(match(ls, "/x.png") == "\\.png$");  // a prefix named the URI: the regexes still apply
    BOOST_TEST(match(ls, "/y/x.png") == "\\.png$");
    BOOST_TEST(match(ls, "/a/b/x.png") == "\\.png$");  // a nested prefix match leaves the regexes
    BOOST_TEST(match(ls, "/a/b/x.txt") == "\\.txt$");
    BOOST_TEST(match(ls, "/a/b/") == "/a/b/");
    BOOST_TEST(match(ls, "/cap/y") == "/cap/");
    BOOST_TEST(match(ls, "/cap/xy") == "/cap/");  // a regex location's prefix ones are dead
    BOOST_TEST(match(ls, "/dir") == "301 /dir/");
    BOOST_TEST(match(ls, "/dirx") == "/");
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

namespace {
ir::UpstreamGroup group_of(std::vector<std::pair<int, bool>> weights_backup, ir::Balancer b = ir::Balancer::round_robin) {
    ir::UpstreamGroup g;
    g.name = "g";
    g.balancer = b;
    int port = 1;
    for (auto [weight, backup] : weights_backup) {
        ir::UpstreamServer s;
        s.name = "10.0.0." + std::to_string(port) + ":80";
        s.endpoints.push_back({"10.0.0." + std::to_string(port++), 80, false});
        s.weight = weight;
        s.backup = backup;
        g.servers.push_back(s);
    }
    return g;
}
// The servers one request after another picks on its first try (each attempt succeeds).
std::string picks(const std::shared_ptr<runtime::UpstreamState>& state, int n, std::string key = {}) {
    std::string out;
    for (int i = 0; i < n; ++i) {
        runtime::PeerSelection sel(state, key);
        runtime::Peer* p = sel.next();
        out += p ? p->endpoint->ip.substr(7) : "-";
        sel.finish(false, [] {});
    }
    return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(smooth_weighted_round_robin) {
    boost::asio::io_context io;
    runtime::TimerTree timers;  // no timer attached: nothing here times out
    // nginx's documented sequence for weights 5, 1, 1.
    auto g = group_of({{5, false}, {1, false}, {1, false}});
    auto state = std::make_shared<runtime::UpstreamState>(g, timers);
    BOOST_TEST(picks(state, 7) == "1121311");
}

BOOST_AUTO_TEST_CASE(failures_disable_a_peer_and_backups_take_over) {
    boost::asio::io_context io;
    runtime::TimerTree timers;  // no timer attached: nothing here times out
    auto g = group_of({{1, false}, {1, false}, {1, true}});
    auto state = std::make_shared<runtime::UpstreamState>(g, timers);
    runtime::PeerSelection sel(state, "");
    BOOST_TEST(sel.tries() == 3);
    int warnings = 0;
    for (int i = 0; i < 2; ++i) {
        BOOST_REQUIRE(sel.next());
        sel.finish(true, [&] { ++warnings; });  // max_fails=1: disabled at once
    }
    BOOST_TEST(warnings == 2);
    runtime::Peer* backup = sel.next();
    BOOST_REQUIRE(backup);
    BOOST_TEST(backup->endpoint->ip == "10.0.0.3");
    sel.finish(false, [] {});
    // Within fail_timeout, later requests go straight to the backup.
    BOOST_TEST(picks(state, 2) == "33");
}

BOOST_AUTO_TEST_CASE(a_lone_server_is_never_marked_failed) {
    boost::asio::io_context io;
    runtime::TimerTree timers;  // no timer attached: nothing here times out
    auto g = group_of({{1, false}});
    auto state = std::make_shared<runtime::UpstreamState>(g, timers);
    runtime::PeerSelection sel(state, "");
    BOOST_REQUIRE(sel.next());
    sel.finish(true, [] { BOOST_FAIL("no warning for a lone server"); });
    BOOST_TEST(sel.tries() == 0);
    BOOST_TEST(picks(state, 2) == "11");
}

BOOST_AUTO_TEST_CASE(least_conn_prefers_fewer_connections_per_weight) {
    boost::asio::io_context io;
    runtime::TimerTree timers;  // no timer attached: nothing here times out
    auto g = group_of({{1, false}, {1, false}}, ir::Balancer::least_conn);
    auto state = std::make_shared<runtime::UpstreamState>(g, timers);
    runtime::PeerSelection busy(state, "");
    runtime::Peer* first = busy.next();  // held: one connection open to it
    BOOST_REQUIRE(first);
    const std::string other = first->endpoint->ip == "10.0.0.1" ? "2" : "1";
    BOOST_TEST(picks(state, 3) == other + other + other);
    busy.finish(false, [] {});
}

BOOST_AUTO_TEST_CASE(hash_balancers_are_stable_per_key) {
    boost::asio::io_context io;
    runtime::TimerTree timers;  // no timer attached: nothing here times out
    for (auto b : {ir::Balancer::hash, ir::Balancer::hash_consistent, ir::Balancer::ip_hash}) {
        auto g = group_of({{1, false}, {1, false}, {1, false}}, b);
        auto state = std::make_shared<runtime::UpstreamState>(g, timers);
        const std::string a = picks(state, 1, "key-a");
        BOOST_TEST(picks(state, 4, "key-a") == a + a + a + a);
    }
    BOOST_TEST(runtime::crc32("123456789") == 0xCBF43926u);  // the CRC-32 check value
}

BOOST_AUTO_TEST_CASE(idle_upstream_connections_are_reused_by_key_until_closed) {
    using tcp = boost::asio::ip::tcp;
    boost::asio::io_context io;
    tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    const ir::Endpoint peer{"127.0.0.1", acceptor.local_endpoint().port(), false};
    runtime::TimerTree timers;  // no timer attached: the 60 s keepalive_timeout never passes here
    runtime::IdleConnections idle(timers, 1, ir::Msec(60000), ir::Msec(3600000));
    const auto now = std::chrono::steady_clock::now();
    auto client = std::make_unique<runtime::TransportStream>(runtime::WorkerSocket(io), timers);
    client->socket().connect(acceptor.local_endpoint());
    tcp::socket server = acceptor.accept();
    const runtime::IdleConnections::Key plain{peer, nullptr, "", ""};
    idle.put({std::move(client), 1, now}, plain);
    BOOST_TEST(idle.size() == 1u);
    // Never handed to an exchange that would have made it otherwise: over TLS, or with
    // another client certificate named by variables.
    SSL_CTX* tls = SSL_CTX_new(TLS_method());
    BOOST_TEST(!idle.take({peer, tls, "localhost", ""}));
    SSL_CTX_free(tls);
    BOOST_TEST(!idle.take({peer, nullptr, "", "/certs/other.crt"}));
    auto again = idle.take(plain);
    BOOST_REQUIRE(again);
    BOOST_TEST(again->requests == 1);
    // Cached again, then closed by the upstream: the cache notices and drops it.
    idle.put({std::move(again->stream), 2, now}, plain);
    // A full cache drops its oldest entry for the new one (the entry dropped through a
    // reference into the node it freed: ASan's heap-use-after-free).
    auto second = std::make_unique<runtime::TransportStream>(runtime::WorkerSocket(io), timers);
    second->socket().connect(acceptor.local_endpoint());
    tcp::socket second_server = acceptor.accept();
    idle.put({std::move(second), 3, now}, plain);
    BOOST_TEST(idle.size() == 1u);
    auto newest = idle.take(plain);
    BOOST_REQUIRE(newest);
    BOOST_TEST(newest->requests == 3);
    // Older than keepalive_time: closed, not kept (ngx_http_upstream_free_keepalive_peer).
    idle.put({std::move(newest->stream), 4, now - std::chrono::hours(2)}, plain);
    BOOST_TEST(idle.size() == 0u);
    auto third = std::make_unique<runtime::TransportStream>(runtime::WorkerSocket(io), timers);
    third->socket().connect(acceptor.local_endpoint());
    tcp::socket third_server = acceptor.accept();
    idle.put({std::move(third), 5, now}, plain);
    third_server.close();
    for (int i = 0; i < 100 && idle.size() > 0; ++i) io.run_one_for(std::chrono::milliseconds(50));
    BOOST_TEST(idle.size() == 0u);
}

namespace {
ir::RewriteOp rewrite_op(conf::VariableScope& vars, std::string regex, std::string replacement,
                         ir::RewriteOp::Flag flag = ir::RewriteOp::Flag::none) {
    ir::RewriteOp op;
    op.kind = ir::RewriteOp::Kind::rewrite;
    op.regex = std::make_shared<ir::Regex>(regex, false);
    if (replacement.ends_with("?")) {
        replacement.pop_back();
        op.add_args = false;
    }
    op.replacement = vars.unchecked_template(replacement, {});
    op.flag = flag;
    return op;
}
}  // namespace

BOOST_AUTO_TEST_CASE(rewrite_script_uri_and_arguments) {
    runtime::ConnectionInfo conn;
    runtime::Request req;
    req.uri = "/old/page";
    req.args = "a=1";
    req.args_present = true;
    runtime::RequestContext ctx(conn, req);
    conf::VariableScope vars("ngx_http");
    // No flag: the URI changes, the arguments follow the new ones, the script goes on.
    std::vector<ir::RewriteOp> script{rewrite_op(vars, "^/old/(.*)$", "/new/$1?b=2")};
    auto r = runtime::run_script(script, ctx);
    BOOST_TEST(req.uri == "/new/page");
    BOOST_TEST(req.args == "b=2&a=1");
    BOOST_TEST((r.next == runtime::ScriptResult::Next::find_location));
    BOOST_TEST(!req.valid_unparsed_uri);
    // A trailing '?' drops them; `break` stops and keeps the location.
    script = {rewrite_op(vars, "^/new/(.*)$", "/final/$1?", ir::RewriteOp::Flag::break_), rewrite_op(vars, "^", "/never")};
    r = runtime::run_script(script, ctx);
    BOOST_TEST(req.uri == "/final/page");
    BOOST_TEST(req.args.empty());
    BOOST_TEST(!req.valid_location);
    BOOST_TEST((r.next == runtime::ScriptResult::Next::stop));
    // `set` and `return` with a variable.
    ir::RewriteOp set;
    set.kind = ir::RewriteOp::Kind::set;
    set.variable = vars.assigned("who");
    set.value = vars.unchecked_template("x-$uri", {});
    ir::RewriteOp ret;
    ret.kind = ir::RewriteOp::Kind::return_;
    ret.ret.code = 200;
    ret.ret.text = vars.unchecked_template("$who", {});
    const ir::Variables resolved = vars.resolve({});  // "who" a slot, "uri" a built-in
    ctx.variables = &resolved;
    r = runtime::run_script({set, ret}, ctx);
    BOOST_TEST((r.next == runtime::ScriptResult::Next::respond));
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.text == "x-/final/page");
}

namespace {
// A timeout that records when it expired, in order.
struct Recorded : runtime::Timeout {
    Recorded(runtime::TimerTree& t, std::vector<int>& out, int n) : Timeout(t), out(out), n(n) {}
    void expired() override { out.push_back(n); }
    std::vector<int>& out;
    int n;
};
}  // namespace

// A worker's timer tree on its own io_context; `expire(n)` runs until n timeouts fired.
struct TimerTreeFixture {
    TimerTreeFixture() { tree.attach(&timer); }
    void expire(std::size_t n) {
        for (int i = 0; i < 100 && order.size() < n; ++i) io.run_one_for(std::chrono::milliseconds(50));
    }
    boost::asio::io_context io;
    boost::asio::steady_timer timer{io};
    runtime::TimerTree tree;
    std::vector<int> order;
};

BOOST_FIXTURE_TEST_CASE(timer_tree_expires_in_deadline_order, TimerTreeFixture) {
    Recorded late(tree, order, 3), early(tree, order, 1), cancelled(tree, order, 9), middle(tree, order, 2);
    late.arm(std::chrono::milliseconds(60));
    middle.arm(std::chrono::milliseconds(40));
    cancelled.arm(std::chrono::milliseconds(10));
    early.arm(std::chrono::milliseconds(20));  // earlier than the wait already armed: re-armed
    cancelled.disarm();
    {
        Recorded gone(tree, order, 8);
        gone.arm(std::chrono::milliseconds(5));
    }  // destroyed before its deadline: unlinked, never called
    BOOST_TEST(tree.size() == 3u);
    expire(3);
    BOOST_TEST(order == (std::vector<int>{1, 2, 3}), boost::test_tools::per_element());
    BOOST_TEST(tree.size() == 0u);
    tree.stop_waiting();
    io.restart();
    BOOST_TEST(io.run_for(std::chrono::seconds(1)) == 0u);  // no wait left behind
}

// As nginx's NGX_TIMER_LAZY_DELAY: a re-arm within 300 ms keeps the deadline set, a
// farther one moves it.
BOOST_FIXTURE_TEST_CASE(timer_tree_rearms_lazily_within_300ms, TimerTreeFixture) {
    Recorded kept(tree, order, 1), fixed(tree, order, 2), moved(tree, order, 3);
    kept.arm(std::chrono::milliseconds(100));
    moved.arm(std::chrono::milliseconds(100));
    fixed.arm(std::chrono::milliseconds(200));
    kept.arm(std::chrono::milliseconds(350));   // 250 ms later: stays at 100 ms
    moved.arm(std::chrono::milliseconds(450));  // 350 ms later: moves past `fixed`
    expire(3);
    BOOST_TEST(order == (std::vector<int>{1, 2, 3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(seconds_as_nginx_prints_them) {
    BOOST_TEST(runtime::seconds_text(0) == "0.000");
    BOOST_TEST(runtime::seconds_text(4) == "0.004");
    BOOST_TEST(runtime::seconds_text(12345) == "12.345");
    BOOST_TEST(runtime::seconds_text(-5) == "0.000");
}

BOOST_AUTO_TEST_CASE(client_stream_timeout_closes_a_pending_read) {
    using tcp = boost::asio::ip::tcp;
    boost::asio::io_context io;
    boost::asio::steady_timer timer(io);
    runtime::TimerTree tree;
    tree.attach(&timer);
    tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    tcp::socket peer(io);
    peer.connect(acceptor.local_endpoint());
    runtime::TimedStream stream(acceptor.accept(io), tree);
    auto busy = boost::asio::make_work_guard(io);  // between the steps nothing may be pending
    char byte;
    std::optional<boost::system::error_code> result;
    // A silent peer: the read ends with beast's timeout and the socket is closed.
    stream.expires_after(std::chrono::milliseconds(20));
    stream.async_read_some(boost::asio::buffer(&byte, 1), [&](boost::system::error_code ec, std::size_t) { result = ec; });
    for (int i = 0; i < 100 && !result; ++i) io.run_one_for(std::chrono::milliseconds(50));
    BOOST_REQUIRE(result);
    BOOST_TEST((*result == boost::beast::error::timeout));
    BOOST_TEST(!stream.socket().is_open());
    // A deadline that passes between operations fails the next one at once.
    tcp::socket peer2(io);
    peer2.connect(acceptor.local_endpoint());
    runtime::TimedStream idle(acceptor.accept(io), tree);
    idle.expires_after(std::chrono::milliseconds(1));
    for (int i = 0; i < 100 && tree.size() > 0; ++i) io.run_one_for(std::chrono::milliseconds(50));
    BOOST_TEST(idle.socket().is_open());  // nothing was pending: nothing closed
    result.reset();
    idle.async_wait(tcp::socket::wait_read, [&](boost::system::error_code ec) { result = ec; });
    for (int i = 0; i < 100 && !result; ++i) io.run_one_for(std::chrono::milliseconds(50));
    BOOST_REQUIRE(result);
    BOOST_TEST((*result == boost::beast::error::timeout));
    // A new deadline clears the old one: data that comes in time is read.
    idle.expires_after(std::chrono::seconds(5));
    boost::asio::write(peer2, boost::asio::buffer("x", 1));
    result.reset();
    idle.async_read_some(boost::asio::buffer(&byte, 1), [&](boost::system::error_code ec, std::size_t) { result = ec; });
    for (int i = 0; i < 100 && !result; ++i) io.run_one_for(std::chrono::milliseconds(50));
    BOOST_REQUIRE(result);
    BOOST_TEST(!*result);
    BOOST_TEST(byte == 'x');
}

namespace {
// The first flight a real OpenSSL client sends: one record holding its ClientHello.
std::string openssl_client_hello(const char* sni, const std::vector<unsigned char>& alpn, int max_version) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(ctx, max_version);
    SSL* ssl = SSL_new(ctx);
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, in, out);
    if (sni) SSL_set_tlsext_host_name(ssl, sni);
    if (!alpn.empty()) SSL_set_alpn_protos(ssl, alpn.data(), static_cast<unsigned>(alpn.size()));
    SSL_connect(ssl);  // wants to read the answer: the ClientHello is written
    char* data = nullptr;
    const long n = BIO_get_mem_data(out, &data);
    std::string hello(data, static_cast<std::size_t>(n));
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return hello;
}
// The same ClientHello spread over records of at most `chunk` payload bytes each.
std::string split_records(const std::string& record, std::size_t chunk) {
    std::string out;
    for (std::size_t pos = 5; pos < record.size(); pos += chunk) {
        const std::string part = record.substr(pos, chunk);
        out += record.substr(0, 3);
        out += static_cast<char>(part.size() >> 8);
        out += static_cast<char>(part.size() & 0xff);
        out += part;
    }
    return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(client_hello_read_as_ssl_preread) {
    using runtime::PrereadStatus;
    runtime::ClientHello hello;
    const std::string v13 = openssl_client_hello("backend1.example.com", {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'}, TLS1_3_VERSION);
    BOOST_TEST((runtime::parse_client_hello(v13, hello) == PrereadStatus::parsed));
    BOOST_TEST(hello.protocol() == "TLSv1.3");  // supported_versions present
    BOOST_TEST(hello.server_name == "backend1.example.com");
    BOOST_TEST(hello.alpn_protocols == "h2,http/1.1");

    const std::string v12 = openssl_client_hello(nullptr, {}, TLS1_2_VERSION);
    BOOST_TEST((runtime::parse_client_hello(v12, hello) == PrereadStatus::parsed));
    BOOST_TEST(hello.protocol() == "TLSv1.2");
    BOOST_TEST(hello.server_name.empty());
    BOOST_TEST(hello.alpn_protocols.empty());

    // Whole records only: every prefix short of the record waits, and finds nothing yet.
    for (std::size_t n = 0; n < v13.size(); n += 97) {
        BOOST_TEST((runtime::parse_client_hello(std::string_view(v13).substr(0, n), hello) == PrereadStatus::need_more));
        BOOST_TEST(hello.server_name.empty());
    }
    // Over several records: the first ones' findings are kept while the rest is awaited.
    const std::string split = split_records(v13, 40);
    BOOST_TEST((runtime::parse_client_hello(split, hello) == PrereadStatus::parsed));
    BOOST_TEST(hello.server_name == "backend1.example.com");
    BOOST_TEST((runtime::parse_client_hello(std::string_view(split).substr(0, 45), hello) == PrereadStatus::need_more));
    BOOST_TEST(hello.protocol() == "TLSv1.2");  // the legacy version, before supported_versions

    BOOST_TEST((runtime::parse_client_hello("GET / HTTP/1.1\r\n", hello) == PrereadStatus::not_tls));
    BOOST_TEST((runtime::parse_client_hello(std::string("\x16\x02\x00\x00\x01\x01", 6), hello) == PrereadStatus::not_tls));
    std::string server_hello = v12;  // a handshake record that is no ClientHello
    server_hello[5] = 2;
    BOOST_TEST((runtime::parse_client_hello(server_hello, hello) == PrereadStatus::not_tls));
    std::string too_long = v12;  // the message one byte shorter than its last field: declined
    const std::size_t length = static_cast<std::size_t>(static_cast<unsigned char>(v12[7])) << 8 | static_cast<unsigned char>(v12[8]);
    too_long[7] = static_cast<char>((length - 1) >> 8);
    too_long[8] = static_cast<char>((length - 1) & 0xff);
    BOOST_TEST((runtime::parse_client_hello(too_long, hello) == PrereadStatus::not_tls));
    // An SSLv2-compatible ClientHello: its version only.
    BOOST_TEST((runtime::parse_client_hello(std::string("\x80\x2e\x01\x03\x01", 5), hello) == PrereadStatus::parsed));
    BOOST_TEST(hello.protocol() == "TLSv1");
}

BOOST_AUTO_TEST_CASE(upstream_ssl_name_drops_the_port_and_ip_literals_send_no_sni) {
    BOOST_TEST(runtime::upstream_ssl_name("", "example.com:8443") == "example.com");
    BOOST_TEST(runtime::upstream_ssl_name("", "[::1]:8443") == "::1");
    BOOST_TEST(runtime::upstream_ssl_name("", "[::1]") == "::1");
    BOOST_TEST(runtime::is_address(runtime::upstream_ssl_name("", "[::1]:8443")));
    BOOST_TEST(runtime::upstream_ssl_name("name.example", "127.0.0.1:8443") == "name.example");
}

BOOST_AUTO_TEST_CASE(proxy_pass_ports_are_numbers_from_1_to_65535) {
    const auto split = [](std::string_view text) { return runtime::split_host_port(text); };
    BOOST_TEST(split("example.com")->no_port);
    BOOST_TEST(split("example.com")->host == "example.com");
    BOOST_TEST(split("127.0.0.1:8080")->host == "127.0.0.1");
    BOOST_TEST(split("127.0.0.1:8080")->port == 8080);
    BOOST_TEST(!split("127.0.0.1:8080")->no_port);
    BOOST_TEST(split("[::1]")->no_port);  // the colons of an IPv6 address are no port's
    BOOST_TEST(split("[::1]:65535")->host == "[::1]");
    BOOST_TEST(split("[::1]:65535")->port == 65535);
    for (const char* invalid : {"host:", "host:0", "host:65536", "host:80x", "host:-1", "host: 80", "host:99999999999"})
        BOOST_TEST(!split(invalid), invalid);
}

BOOST_AUTO_TEST_CASE(unix_sockets_connect_and_name_their_peers) {
    char dir_template[] = "/tmp/ngxlite-unix-test.XXXXXX";
    const std::string dir = ::mkdtemp(dir_template);
    const std::string path = dir + "/s.sock";
    boost::asio::io_context ctx;
    runtime::WorkerSocket client(ctx.get_executor());
    // Nothing there: the errno nginx logs at crit ("connect() to unix:... failed (2: ...)").
    const auto missing = runtime::connect_unix(client, path);
    BOOST_TEST(missing.value() == ENOENT);
    BOOST_TEST(runtime::connect_failure_is_critical(missing.value()));
    BOOST_TEST(!runtime::connect_failure_is_critical(ECONNREFUSED));
    const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address;
    BOOST_REQUIRE(runtime::unix_address(path, address));
    BOOST_REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    BOOST_REQUIRE(::listen(listener, 1) == 0);
    BOOST_REQUIRE(!runtime::connect_unix(client, path));
    const int accepted = ::accept(listener, nullptr, nullptr);
    BOOST_REQUIRE(accepted >= 0);
    BOOST_TEST(runtime::unix_peer_text(accepted) == "unix:");  // the client did not bind
    BOOST_TEST(boost::asio::write(client, boost::asio::buffer("x", 1)) == 1u);
    char byte = 0;
    BOOST_TEST(::read(accepted, &byte, 1) == 1);
    BOOST_TEST(byte == 'x');
    ::close(accepted);
    ::close(listener);
    client.close();
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
    BOOST_TEST(!runtime::unix_address("/" + std::string(120, 'x'), address));
}

// --- resolver -------------------------------------------------------------------------------

namespace {
// A name server on the test's io_context: its answers by name, the queries it got.
struct FakeNameServer {
    using udp = boost::asio::ip::udp;
    explicit FakeNameServer(boost::asio::io_context& io) : socket(io, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
        receive();
    }
    void receive() {
        socket.async_receive_from(boost::asio::buffer(in), peer, [this](const boost::system::error_code& ec, std::size_t n) {
            if (ec) return;
            std::string q(in.data(), n), name;
            std::size_t i = 12;
            while (i < q.size() && q[i]) {
                if (!name.empty()) name += '.';
                name += q.substr(i + 1, static_cast<unsigned char>(q[i]));
                i += 1 + static_cast<unsigned char>(q[i]);
            }
            const unsigned qtype = static_cast<unsigned char>(q[i + 2]);
            ++queries[name];
            auto it = zone.find(name);
            if (it == zone.end() || it->second.rcode >= 0) {
                const int rcode = it == zone.end() ? 0 : it->second.rcode;
                std::string r = q.substr(0, i + 5);
                r[2] = '\x81';
                r[3] = static_cast<char>(0x80 | rcode);
                std::string answers;
                int count = 0;
                if (it != zone.end())
                    for (const auto& [type, data] : it->second.records) {
                        if (type != qtype && type != 5) continue;
                        answers += std::string("\xc0\x0c\x00", 3) + static_cast<char>(type) + std::string("\x00\x01\x00\x00\x00\x3c\x00", 7) +
                                   static_cast<char>(data.size()) + data;
                        ++count;
                    }
                r[7] = static_cast<char>(count);
                r += answers;
                socket.send_to(boost::asio::buffer(r), peer);
            }
            receive();
        });
    }
    struct Entry {
        int rcode = 0;  // -1: no answer
        std::vector<std::pair<unsigned, std::string>> records;  // type, rdata
    };
    std::uint16_t port() const { return socket.local_endpoint().port(); }
    udp::socket socket;
    udp::endpoint peer;
    std::array<char, 512> in{};
    std::map<std::string, Entry> zone;
    std::map<std::string, int> queries;
};

struct ResolverFixture {
    ResolverFixture() { tree.attach(&timer); }
    ~ResolverFixture() { tree.attach(nullptr); }
    runtime::ResolveResult resolve(runtime::Resolver& r, std::string name, int ms = 2000) {
        std::optional<runtime::ResolveResult> got;
        r.resolve(std::move(name), ir::Msec(ms), [&](runtime::ResolveResult res) { got = std::move(res); });
        for (int i = 0; i < 400 && !got; ++i) io.run_one_for(std::chrono::milliseconds(20));
        BOOST_REQUIRE(got);
        return *got;
    }
    boost::asio::io_context io;
    boost::asio::steady_timer timer{io};
    runtime::TimerTree tree;
    runtime::ErrorLog log{std::vector<ir::ErrorLog>{}};
};

std::string a_record(const char* text) {
    const auto b = boost::asio::ip::make_address_v4(text).to_bytes();
    return std::string(b.begin(), b.end());
}
}  // namespace

BOOST_FIXTURE_TEST_CASE(resolver_answers_caches_follows_cnames_and_times_out, ResolverFixture) {
    FakeNameServer dns(io);
    dns.zone["backend.test"] = {0, {{1, a_record("127.0.0.1")}}};
    dns.zone["many.test"] = {0, {{1, a_record("127.0.0.1")}, {1, a_record("127.0.0.2")}}};
    dns.zone["alias.test"] = {0, {{5, std::string("\7backend\4test\0", 14)}}};
    dns.zone["nx.test"] = {3, {}};
    dns.zone["silent.test"] = {-1, {}};
    ir::Resolver conf;
    conf.servers.push_back({"127.0.0.1", dns.port(), false});
    conf.ipv6 = false;
    runtime::Resolver resolver(io.get_executor(), tree, conf, log);

    auto r = resolve(resolver, "Backend.Test.");
    BOOST_TEST(r.state == 0);
    BOOST_TEST(r.addrs.size() == 1u);
    BOOST_TEST(r.addrs.front().to_string() == "127.0.0.1");
    BOOST_TEST(resolve(resolver, "backend.test").state == 0);  // cached: no second query
    BOOST_TEST(dns.queries["backend.test"] == 1);

    r = resolve(resolver, "many.test");
    BOOST_TEST(r.addrs.size() == 2u);
    BOOST_TEST(r.addrs[0].to_string() == "127.0.0.1");  // a fresh answer in its order
    BOOST_TEST(r.addrs[1].to_string() == "127.0.0.2");

    r = resolve(resolver, "alias.test");  // the CNAME alone: its target from the cache
    BOOST_TEST(r.state == 0);
    BOOST_TEST(r.addrs.front().to_string() == "127.0.0.1");
    BOOST_TEST(dns.queries["alias.test"] == 1);
    BOOST_TEST(dns.queries["backend.test"] == 1);

    BOOST_TEST(resolve(resolver, "nx.test").state == 3);
    BOOST_TEST(resolve(resolver, "nx.test").state == 3);  // errors are not cached
    BOOST_TEST(dns.queries["nx.test"] == 2);
    BOOST_TEST(resolve(resolver, "unknown.test").state == 3);  // no record: "Host not found"
    BOOST_TEST(resolve(resolver, "silent.test", 200).state == 110);
    BOOST_TEST(std::string(runtime::resolver_strerror(110)) == "Operation timed out");
    BOOST_TEST(std::string(runtime::resolver_strerror(2)) == "Server failure");
}

// Each new query goes to the next name server (nginx's r->last_connection), and a
// SERVFAIL is the answer, not a reason to ask another.
BOOST_FIXTURE_TEST_CASE(resolver_takes_name_servers_in_turn, ResolverFixture) {
    FakeNameServer failing(io), good(io);
    failing.zone["two.test"] = {2, {}};
    good.zone["two.test"] = {0, {{1, a_record("127.0.0.3")}}};
    ir::Resolver conf;
    conf.servers.push_back({"127.0.0.1", failing.port(), false});
    conf.servers.push_back({"127.0.0.1", good.port(), false});
    runtime::Resolver resolver(io.get_executor(), tree, conf, log);  // ipv6=on: A and AAAA
    BOOST_TEST(resolve(resolver, "two.test").state == 2);
    BOOST_TEST(failing.queries["two.test"] == 2);  // A and AAAA, to the same server
    const auto r = resolve(resolver, "two.test");
    BOOST_TEST(r.state == 0);
    BOOST_TEST(r.addrs.front().to_string() == "127.0.0.3");
    BOOST_TEST(good.queries["two.test"] == 2);
}
