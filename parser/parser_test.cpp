#define BOOST_TEST_MODULE parser
#include <boost/test/unit_test.hpp>

#include "parser/load.hpp"
#include "parser/registry.hpp"
#include "parser/values.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace ngxlite;
namespace fs = std::filesystem;

namespace {

// A scratch prefix with files in it; conf/nginx.conf style layouts are written per test.
struct Prefix {
    fs::path dir;
    Prefix() {
        char tmpl[] = "/tmp/ngxlite-parser-test.XXXXXX";
        dir = ::mkdtemp(tmpl);
    }
    ~Prefix() { fs::remove_all(dir); }
    void write(const std::string& name, const std::string& text) const {
        fs::create_directories((dir / name).parent_path());
        std::ofstream(dir / name) << text;
    }
    conf::LoadResult load(const std::string& main, const std::string& globals = "error_log stderr;") const {
        write("nginx.conf", main);
        conf::LoadOptions o;
        o.prefix = dir.string() + "/";
        o.conf_file = "nginx.conf";
        o.globals = globals;
        return conf::load(o);
    }
    // The error as ngxlite prints it, with the prefix shown as {p}.
    std::string error(const std::string& main, const std::string& globals = "error_log stderr;") const {
        auto r = load(main, globals);
        if (r.config) return "";
        std::string e = r.diagnostics.back().format();
        for (auto at = e.find(dir.string()); at != std::string::npos; at = e.find(dir.string()))
            e.replace(at, dir.string().size(), "{p}");
        return e;
    }
};

std::string http(const std::string& body) { return "events {}\nhttp {\n" + body + "\n}\n"; }

}  // namespace

BOOST_AUTO_TEST_CASE(value_syntax) {
    BOOST_TEST(*conf::parse_size("8k") == 8192);
    BOOST_TEST(*conf::parse_size("1M") == 1048576);
    BOOST_TEST(!conf::parse_size("1g"));
    BOOST_TEST(*conf::parse_offset("1g") == 1073741824);
    BOOST_TEST(!conf::parse_size("k"));
    BOOST_TEST(*conf::parse_time("500ms", false) == 500);
    BOOST_TEST(*conf::parse_time("10", false) == 10000);
    BOOST_TEST(*conf::parse_time("1h 30m", true) == 5400);
    BOOST_TEST(*conf::parse_time("1d", true) == 86400);
    BOOST_TEST(!conf::parse_time("1y", false));    // no years or months in msec values
    BOOST_TEST(!conf::parse_time("500ms", true));  // no ms in second values
    BOOST_TEST(!conf::parse_time("10s 5m", true)); // units must go down
    BOOST_TEST(!conf::parse_number("-1"));
    BOOST_TEST(!conf::parse_number("99999999999999999999"));
}

BOOST_AUTO_TEST_CASE(generic_setters_speak_nginx) {
    Prefix p;
    BOOST_TEST(p.error(http("sendfile yes;")) ==
               "[emerg] invalid value \"yes\" in \"sendfile\" directive, it must be \"on\" or \"off\" in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("sendfile on;\nsendfile off;")) == "[emerg] \"sendfile\" directive is duplicate in {p}/nginx.conf:4");
    BOOST_TEST(p.error(http("client_max_body_size 1x;")) == "[emerg] \"client_max_body_size\" directive invalid value in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("keepalive_requests many;")) == "[emerg] \"keepalive_requests\" directive invalid number in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("proxy_read_timeout 1y;")) == "[emerg] \"proxy_read_timeout\" directive invalid value in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("proxy_http_version 2.0;")) == "[emerg] invalid value \"2.0\" in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("proxy_buffers 0 4k;")) == "[emerg] \"proxy_buffers\" directive invalid value in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("proxy_next_upstream error bogus;")) == "[emerg] invalid value \"bogus\" in {p}/nginx.conf:3");
    auto warned = p.load(http("ssl_protocols TLSv1.2 TLSv1.2;"));
    BOOST_REQUIRE(warned.config);
    BOOST_TEST(warned.diagnostics.at(0).format().find("[warn] duplicate value \"TLSv1.2\"") == 0u);
}

BOOST_AUTO_TEST_CASE(contexts_and_arity_by_family) {
    Prefix p;
    BOOST_TEST(p.error(http("sendfiles on;")) == "[emerg] unknown directive \"sendfiles\" in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("listen 80;")) == "[emerg] \"listen\" directive is not allowed here in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("sendfile;")) == "[emerg] invalid number of arguments in \"sendfile\" directive in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("proxy_set_header X;")) == "[emerg] invalid number of arguments in \"proxy_set_header\" directive in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("index;")) == "[emerg] invalid number of arguments in \"index\" directive in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("server;")) == "[emerg] directive \"server\" has no opening \"{\" in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("sendfile on {}")) == "[emerg] directive \"sendfile\" is not terminated by \";\" in {p}/nginx.conf:3");
    BOOST_TEST(p.error("events {}\nmail {}\n") == "[emerg] unknown directive \"mail\" in {p}/nginx.conf:2");
    BOOST_TEST(p.error("events {}\nhttp { server { location / { if ($a) { location /b {} } } } }\n") ==
               "[emerg] \"location\" directive is not allowed here in {p}/nginx.conf:2");
    BOOST_TEST(p.error("events {}\n") == "");
    BOOST_TEST(p.error("http {}\n") == "[emerg] no \"events\" section in configuration");
}

BOOST_AUTO_TEST_CASE(command_line_directives) {
    Prefix p;
    BOOST_TEST(p.error("events {}\n", "daemon off") == "[emerg] unexpected end of parameter, expecting \";\" in command line");
    BOOST_TEST(p.error("events {}\n", "daemon maybe;") ==
               "[emerg] invalid value \"maybe\" in \"daemon\" directive, it must be \"on\" or \"off\" in command line");
    BOOST_TEST(p.error("events {}\npid a.pid;\n", "pid b.pid;") == "[emerg] \"pid\" directive is duplicate in {p}/nginx.conf:2");
}

// -e names nginx's first error log, under the prefix; with no file log in the
// configuration it is also the main one, at "error" (ngx_log_open_default).
BOOST_AUTO_TEST_CASE(error_log_option) {
    Prefix p;
    p.write("nginx.conf", "events {}\n");
    conf::LoadOptions o;
    o.prefix = p.dir.string();
    o.conf_file = "nginx.conf";
    o.error_log = "e.log";
    BOOST_TEST(conf::startup_error_log(o) == p.dir.string() + "/e.log");
    auto r = conf::load(o);
    BOOST_TEST_REQUIRE(r.config);
    BOOST_TEST_REQUIRE(r.config->error_logs.size() == 1u);
    BOOST_TEST(r.config->error_logs[0].path == p.dir.string() + "/e.log");
    BOOST_TEST(r.config->error_logs[0].level == "error");
    o.globals = "error_log syslog:server=127.0.0.1 info;";
    r = conf::load(o);
    BOOST_TEST_REQUIRE(r.config->error_logs.size() == 2u);  // a syslog log is not a file
    BOOST_TEST(r.config->error_logs[0].path == "syslog:server=127.0.0.1");
    o.globals = "error_log x.log;";
    BOOST_TEST(conf::load(o).config->error_logs.size() == 1u);
    o.error_log = "";
    BOOST_TEST(conf::startup_error_log(o).empty());
}

// error_log syslog:... checked as ngx_syslog_process_conf (messages compared with nginx -t).
BOOST_AUTO_TEST_CASE(syslog_arguments) {
    Prefix p;
    const auto err = [&](const std::string& arg) { return p.error("events {}\nerror_log " + arg + " info;\n"); };
    BOOST_TEST(err("syslog:server=127.0.0.1,foo") == "[emerg] unknown syslog parameter \"foo\" in {p}/nginx.conf:2");
    BOOST_TEST(err("syslog:facility=local0") == "[emerg] no syslog server specified in {p}/nginx.conf:2");
    BOOST_TEST(err("syslog:server=127.0.0.1,tag=a-b") ==
               "[emerg] syslog \"tag\" only allows alphanumeric characters and underscore in {p}/nginx.conf:2");
    BOOST_TEST(err("syslog:server=127.0.0.1:99999") == "[emerg] invalid port in syslog server \"127.0.0.1:99999\" in {p}/nginx.conf:2");
    BOOST_TEST(err("syslog:server=127.0.0.1,server=127.0.0.1") == "[emerg] duplicate syslog \"server\" in {p}/nginx.conf:2");
    auto r = p.load("events {}\nerror_log syslog:server=127.0.0.1,facility=local0,tag=web,nohostname warn;\n", "");
    BOOST_TEST_REQUIRE(r.config);
    const auto& peer = r.config->error_logs.at(0).syslog;
    BOOST_TEST_REQUIRE(peer.has_value());
    BOOST_TEST(peer->server.text() == "127.0.0.1:514");
    BOOST_TEST(peer->facility == 16);
    BOOST_TEST(peer->tag == "web");
    BOOST_TEST(peer->nohostname);
    BOOST_TEST(r.config->error_logs.at(0).level == "warn");
    BOOST_TEST(p.error(http("access_log syslog:server=127.0.0.1,foo combined;")) ==
               "[emerg] unknown syslog parameter \"foo\" in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("access_log syslog:server=127.0.0.1 combined buffer=32k;")) ==
               "[emerg] logs to syslog cannot be buffered in {p}/nginx.conf:3");
}

BOOST_AUTO_TEST_CASE(include_globs_follow_nginx) {
    Prefix p;
    p.write("conf.d/b.conf", "server { listen 127.0.0.1:18082; server_name b; }\n");
    p.write("conf.d/a.conf", "server { listen 127.0.0.1:18081; server_name a; }\n");
    auto r = p.load(http("include conf.d/*.conf;\ninclude none.d/*.conf;"));
    BOOST_REQUIRE(r.config);
    BOOST_REQUIRE(r.config->http->servers.size() == 2u);
    BOOST_TEST(r.config->http->servers[0].names[0].name == "a");  // glob order is sorted
    BOOST_TEST(r.files.size() == 3u);
    BOOST_TEST(p.error(http("include missing.conf;")) ==
               "[emerg] open() \"{p}/missing.conf\" failed (2: No such file or directory) in {p}/nginx.conf:3");
    p.write("broken.conf", "server {\n");
    BOOST_TEST(p.error(http("include broken.conf;")) == "[emerg] unexpected end of file, expecting \"}\" in {p}/broken.conf:2");
    p.write("brace.conf", "}\n");
    BOOST_TEST(p.error(http("include brace.conf;")) == "[emerg] unexpected \"}\" in {p}/brace.conf:1");
}

BOOST_AUTO_TEST_CASE(http_proxy_ssl_merge_and_defaults) {
    Prefix p;
    auto r = p.load(http(R"(
        proxy_ssl_protocols TLSv1.2 TLSv1.3;
        proxy_ssl_session_reuse off;
        server {
            listen 127.0.0.1:18080;
            proxy_ssl_server_name on;
            proxy_ssl_verify_depth 3;
            location /a { proxy_pass https://127.0.0.1:18443; proxy_ssl_name backend.test; }
            location /b { proxy_pass https://127.0.0.1:18443; proxy_ssl_protocols TLSv1.2; proxy_ssl_ciphers HIGH; }
            location /c { proxy_pass http://127.0.0.1:18081; }
        })"));
    BOOST_REQUIRE(r.config);
    const auto& locs = r.config->http->servers.at(0).locations;
    BOOST_REQUIRE(locs.size() == 3u);
    const auto& a = locs[0].proxy->ssl;
    BOOST_TEST(a.enabled);
    BOOST_TEST(a.protocols == (ir::kTLSv1_2 | ir::kTLSv1_3));
    BOOST_TEST(!a.session_reuse);
    BOOST_TEST(a.server_name);
    BOOST_TEST(a.verify_depth == 3);
    BOOST_TEST(a.name == "backend.test");
    BOOST_TEST(a.ciphers == "DEFAULT");
    BOOST_TEST(!a.verify);
    const auto& b = locs[1].proxy->ssl;
    BOOST_TEST(b.protocols == ir::kTLSv1_2);
    BOOST_TEST(b.ciphers == "HIGH");
    BOOST_TEST(b.name.empty());  // $proxy_host
    BOOST_TEST(!locs[2].proxy->ssl.enabled);
    // nginx 1.22.1's defaults where nothing is set.
    auto d = p.load(http("server { listen 127.0.0.1:18080; location / { proxy_pass https://127.0.0.1:1; } }"));
    BOOST_REQUIRE(d.config);
    const auto& def = d.config->http->servers.at(0).locations.at(0).proxy->ssl;
    BOOST_TEST(def.protocols == ir::kDefaultTlsProtocols);
    BOOST_TEST(!(def.protocols & ir::kTLSv1_3));
    BOOST_TEST(def.ciphers == "DEFAULT");
    BOOST_TEST(def.verify_depth == 1);
    BOOST_TEST(def.session_reuse);
    BOOST_TEST(!def.server_name);
    BOOST_TEST(!def.verify);
    BOOST_TEST(p.error(http("proxy_ssl_verify on;\nserver { listen 127.0.0.1:18080; location / { proxy_pass https://127.0.0.1:1; } }")) ==
               "[emerg] no proxy_ssl_trusted_certificate for proxy_ssl_verify");
}

BOOST_AUTO_TEST_CASE(stream_proxy_ssl_merge_and_defaults) {
    Prefix p;
    const std::string stream = "load_module " + std::string("/usr/lib/nginx/modules/ngx_stream_module.so") + ";\nevents {}\n";
    auto r = p.load(stream + R"(stream {
        proxy_ssl_verify_depth 2;
        proxy_ssl_session_reuse off;
        server { listen 127.0.0.1:18081; proxy_pass 127.0.0.1:18082; proxy_ssl on; proxy_ssl_name b.test; proxy_ssl_server_name on; }
        server { listen 127.0.0.1:18083; proxy_pass 127.0.0.1:18082; }
    })");
    BOOST_REQUIRE(r.config);
    const auto& s0 = r.config->stream->servers.at(0).ssl;
    BOOST_TEST(s0.enabled);
    BOOST_TEST(s0.verify_depth == 2);
    BOOST_TEST(!s0.session_reuse);
    BOOST_TEST(s0.name == "b.test");
    BOOST_TEST(s0.server_name);
    BOOST_TEST(s0.protocols == ir::kDefaultTlsProtocols);
    BOOST_TEST(!r.config->stream->servers.at(1).ssl.enabled);
    BOOST_TEST(p.error(stream + "stream { server { listen 127.0.0.1:18081; proxy_pass 127.0.0.1:1; proxy_ssl on; proxy_ssl_verify on; } }") ==
               "[emerg] no proxy_ssl_trusted_certificate for proxy_ssl_verify");
    // Built in: the same block needs no load_module.
    BOOST_TEST(p.load("events {}\nstream { server { listen 127.0.0.1:18081; proxy_pass 127.0.0.1:1; } }").config);
}

BOOST_AUTO_TEST_CASE(registry_covers_the_reference) {
    BOOST_TEST(conf::lookup_directive("proxy_ssl_verify").size() == 2u);  // http and stream
    BOOST_TEST(conf::lookup_directive("no_such_directive").empty());
    BOOST_TEST(conf::dynamic_module_file("ngx_stream_proxy_module") == std::string(""));  // built in
    BOOST_TEST(conf::dynamic_module_file("ngx_stream_geoip_module") == std::string("ngx_stream_geoip_module.so"));
    BOOST_TEST(conf::dynamic_module_file("ngx_mail_proxy_module") == std::string("ngx_mail_module.so"));
    BOOST_TEST(conf::dynamic_module_file("ngx_http_proxy_module") == std::string(""));
    BOOST_TEST(conf::dynamic_module_file("ngx_kqueue_module") == nullptr);
    for (auto name : {"proxy_ssl_certificate", "proxy_ssl_certificate_key", "proxy_ssl_password_file",
                      "proxy_ssl_trusted_certificate", "proxy_ssl_verify", "proxy_ssl_verify_depth", "proxy_ssl_crl",
                      "proxy_ssl_name", "proxy_ssl_server_name", "proxy_ssl_protocols", "proxy_ssl_ciphers",
                      "proxy_ssl_conf_command", "proxy_ssl_session_reuse"})
        BOOST_TEST(conf::lookup_directive(name).size() == 2u, name);
}

BOOST_AUTO_TEST_CASE(ir_locations_in_match_order_with_templates) {
    Prefix p;
    auto r = p.load(http(R"(
        log_format short '$remote_addr "$request" $status';
        map $http_x_tenant $tenant { default none; acme 1; ~^b(?<rest>.*)$ $rest; }
        server {
            listen 127.0.0.1:18080;
            add_header X-Server s1 always;
            location ~ \.php$ { return 403; }
            location /b { proxy_pass http://127.0.0.1:18081; proxy_set_header X-Real-IP $remote_addr; }
            location = /b { return 204; }
            location ^~ /a { access_log off; }
            location @named { return 200 "named $uri"; }
            location ~* \.jpg$ { add_header X-Img 1; access_log logs/img.log short buffer=8k; }
        })"));
    BOOST_REQUIRE(r.config);
    const auto& h = *r.config->http;
    const auto& locs = h.servers.at(0).locations;
    std::vector<std::string> order;
    for (const auto& l : locs) order.push_back(l.name);
    const std::vector<std::string> expected{"/a", "/b", "/b", "\\.php$", "\\.jpg$", "@named"};
    BOOST_TEST(order == expected, boost::test_tools::per_element());
    BOOST_TEST((locs[1].match == ir::LocationMatch::exact));  // exact before prefix on a tie
    BOOST_TEST(locs[1].script.at(0).ret.code == 204);
    BOOST_TEST(locs[0].access_logs.empty());
    BOOST_TEST(locs[2].add_headers.size() == 1u);  // inherited from the server
    BOOST_TEST(locs[2].add_headers[0].always);
    BOOST_TEST(locs[4].add_headers.size() == 1u);  // its own list replaces the server's
    BOOST_TEST(locs[4].add_headers[0].name == "X-Img");
    BOOST_TEST(locs[4].access_logs.at(0).format == "short");
    BOOST_TEST(locs[4].access_logs.at(0).buffer == 8192);
    const auto& named = locs[5].script.at(0).ret.text.parts;
    BOOST_REQUIRE(named.size() == 2u);
    BOOST_TEST(named[1].text == "uri");
    const auto& headers = locs[2].proxy->set_headers;
    BOOST_TEST(headers.at(0).name == "X-Real-IP");  // the proxy_set_header list first
    BOOST_TEST(headers.at(0).value.parts.at(0).text == "remote_addr");
    BOOST_TEST(headers.at(1).name == "Host");  // then nginx's defaults
    BOOST_TEST(headers.at(1).value.parts.at(0).text == "proxy_host");
    BOOST_TEST(headers.size() == 9u);
    BOOST_TEST(h.log_formats.at(0).name == "combined");
    BOOST_TEST(h.log_formats.at(1).format.parts.at(0).text == "remote_addr");
    BOOST_REQUIRE(h.maps.size() == 1u);
    BOOST_TEST(h.maps[0].variable == "tenant");
    BOOST_TEST(h.maps[0].exact.at(0).first == "acme");
    BOOST_TEST(h.maps[0].regexes.size() == 1u);
    BOOST_TEST(h.maps[0].default_value.literal() == "none");
}

BOOST_AUTO_TEST_CASE(remaining_setter_types) {
    Prefix p;
    // sec: no milliseconds; off: g suffix; path: positive levels; access: user/group/all.
    // (Each expectation here was printed by nginx 1.22.1 -t.)
    BOOST_TEST(p.error(http("ssl_session_timeout 500ms;")) == "[emerg] \"ssl_session_timeout\" directive invalid value in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("client_max_body_size 1g;")) == "");
    BOOST_TEST(p.error(http("client_max_body_size 1t;")) == "[emerg] \"client_max_body_size\" directive invalid value in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("proxy_max_temp_file_size 1g;")) == "[emerg] \"proxy_max_temp_file_size\" directive invalid value in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("proxy_temp_path /tmp/x 1 2 3;")) == "");
    BOOST_TEST(p.error(http("proxy_temp_path /tmp/x 0;")) == "[emerg] \"proxy_temp_path\" directive invalid value in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("proxy_store_access user:rw group:r all:r;")) == "");
    BOOST_TEST(p.error(http("proxy_store_access user:x;")) == "[emerg] invalid value \"user:x\" in {p}/nginx.conf:3");
    // str_array and keyval slots repeat freely; str and num slots do not.
    BOOST_TEST(p.error(http("proxy_hide_header A;\nproxy_hide_header B;\nproxy_set_header A 1;\nproxy_set_header B 2;")) == "");
    BOOST_TEST(p.error(http("default_type a/b;\ndefault_type c/d;")) == "[emerg] \"default_type\" directive is duplicate in {p}/nginx.conf:4");
}

BOOST_AUTO_TEST_CASE(unix_sockets_as_nginx_parses_them) {
    Prefix p;
    auto r = p.load(http(R"(
        upstream u { server unix:/run/app.sock weight=2; }
        server {
            listen unix:/run/ngx.sock default_server;
            location /a { proxy_pass http://unix:/run/app.sock:/uri/; }
            location /b { proxy_pass http://u; }
            location /c { allow unix:; deny all; set_real_ip_from unix:; }
        })"));
    BOOST_REQUIRE(r.config);
    const auto& cfg = *r.config->http;
    BOOST_REQUIRE(cfg.addresses.size() == 1u);
    BOOST_TEST(cfg.addresses[0].listen.endpoint.unix_socket);
    BOOST_TEST(cfg.addresses[0].listen.endpoint.text() == "unix:/run/ngx.sock");
    const auto& locs = cfg.servers.at(0).locations;
    const auto& a = *locs.at(0).proxy;
    BOOST_TEST(a.uri == "/uri/");
    BOOST_TEST(a.proxy_host == "localhost");  // ngx_http_proxy_set_vars
    BOOST_TEST(a.proxy_port.empty());
    const auto& group = cfg.upstreams.at(static_cast<std::size_t>(a.upstream_index));
    BOOST_TEST(group.servers.at(0).endpoints.at(0).text() == "unix:/run/app.sock");
    BOOST_TEST(locs.at(1).proxy->proxy_port == "80");
    BOOST_TEST(locs.at(2).access_rules.at(0).unix_socket);
    BOOST_TEST(locs.at(2).real_ip_from.at(0).unix_socket);
    // nginx's words for what ngx_parse_unix_domain_url refuses.
    BOOST_TEST(p.error(http("server { listen unix:; }")) ==
               "[emerg] no path in the unix domain socket in \"unix:\" of the \"listen\" directive in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("server { listen unix:/" + std::string(120, 'x') + "; }")).starts_with(
        "[emerg] too long path in the unix domain socket"));
    BOOST_TEST(p.error(http("server { location / { allow unix:/x; } }")) == "[emerg] invalid parameter \"unix:/x\" in {p}/nginx.conf:3");
}

BOOST_AUTO_TEST_CASE(stream_access_rules_merge_as_nginx) {
    Prefix p;
    auto r = p.load("events {}\nstream {\n deny 10.0.0.0/8;\n"
                    " server { listen unix:/run/s.sock; proxy_pass 127.0.0.1:1; }\n"
                    " server { listen 127.0.0.1:18081; proxy_pass 127.0.0.1:1; allow unix:; deny all; }\n}\n");
    BOOST_REQUIRE(r.config);
    const auto& servers = r.config->stream->servers;
    BOOST_TEST(servers.at(0).listens.at(0).endpoint.text() == "unix:/run/s.sock");
    BOOST_REQUIRE(servers.at(0).access_rules.size() == 1u);  // stream{}'s, inherited
    BOOST_TEST(!servers.at(0).access_rules[0].allow);
    BOOST_REQUIRE(servers.at(1).access_rules.size() == 2u);  // its own replace them
    BOOST_TEST(servers.at(1).access_rules[0].unix_socket);
    BOOST_TEST(servers.at(1).access_rules[1].all);
    BOOST_TEST(p.error("events {}\nstream { server { listen 127.0.0.1:18081; proxy_pass 127.0.0.1:1; deny 10.0.0.1/33; } }\n") ==
               "[emerg] invalid parameter \"10.0.0.1/33\" in {p}/nginx.conf:2");
}

BOOST_AUTO_TEST_CASE(access_phase_settings_merge_as_nginx) {
    Prefix p;
    auto r = p.load(http("auth_basic_user_file users; satisfy any; auth_delay 2s;\n"
                         "server { listen 127.0.0.1:18082; auth_basic \"realm $host\";\n"
                         " location /a { }\n"
                         " location /b { auth_basic off; }\n"
                         " location /c { auth_basic_user_file $arg_f; satisfy all; }\n"
                         " location /d { auth_basic_user_file /abs/$arg_f; auth_delay 0; }\n}"));
    BOOST_REQUIRE(r.config);
    const auto& server = r.config->http->servers.at(0);
    BOOST_TEST(server.root_location.auth_basic.has_value());
    const auto& locs = server.locations;
    // Realm and file merged each on its own; a relative file is taken from the conf prefix
    // at load, unless a variable starts it.
    const auto& a = *locs.at(0).auth_basic;
    BOOST_TEST(a.realm.has_variables());
    BOOST_TEST(a.user_file.literal() == p.dir.string() + "/users");
    BOOST_TEST(a.conf_prefix.empty());
    BOOST_TEST(!locs.at(1).auth_basic.has_value());  // a literal "off"
    BOOST_TEST(locs.at(2).auth_basic->conf_prefix == p.dir.string() + "/");
    BOOST_TEST(locs.at(3).auth_basic->conf_prefix.empty());
    BOOST_TEST((locs.at(0).satisfy == ir::Location::Satisfy::any));
    BOOST_TEST((locs.at(2).satisfy == ir::Location::Satisfy::all));
    BOOST_TEST(locs.at(0).auth_delay.count() == 2000);
    BOOST_TEST(locs.at(3).auth_delay.count() == 0);
    BOOST_TEST(p.error(http("auth_basic_user_file a; auth_basic_user_file b;")) ==
               "[emerg] \"auth_basic_user_file\" directive is duplicate in {p}/nginx.conf:3");
    BOOST_TEST(p.error(http("satisfy some;")) == "[emerg] invalid value \"some\" in {p}/nginx.conf:3");
}
