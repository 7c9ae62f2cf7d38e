// Core, events and top-level block setters (nginx's core, errlog, conf, events modules).
#include "parser/compiler.hpp"
#include "parser/setters.hpp"
#include "parser/syslog.hpp"
#include "parser/ir/url.hpp"
#include "parser/values.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ngxlite::conf {

namespace {

void include_file(Compiler& c, Directive& d) { c.include(d); }

// Blocks of a module type count as "modules used": load_module must come before them.
bool modules_used(Compiler& c) {
    for (const auto& d : c.root().directives)
        if (d->block && d->block->context != kMain) return true;
    return false;
}

void events_block(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    c.parse_block(d, kEvents);
}

void set_user(Compiler& c, Directive& d) {
    if (::geteuid() != 0) {
        c.warn_at(d.where, "the \"user\" directive makes sense only if the master process runs with "
                           "super-user privileges, ignored");
        return;
    }
    reject_duplicate(c, d);
    errno = 0;
    if (::getpwnam(d.args[1].c_str()) == nullptr)
        fail_at(d.where, "getpwnam(\"" + d.args[1] + "\") failed");
    const std::string& group = d.nargs() == 2 ? d.args[2] : d.args[1];
    if (::getgrnam(group.c_str()) == nullptr) fail_at(d.where, "getgrnam(\"" + group + "\") failed");
}

void set_worker_processes(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    if (d.args[1] == "auto") {
        d.value = 0;
        return;
    }
    auto n = parse_number(d.args[1]);
    if (!n) fail_directive(d, "invalid value");
    d.value = *n;
}

void load_module(Compiler& c, Directive& d) {
    if (modules_used(c)) fail_directive(d, "is specified too late");
    const std::string path = c.full_path(d.args[1], false);
    if (::access(path.c_str(), R_OK) != 0) {
        // nginx reports dlerror()'s text: "PATH: cannot open shared object file: REASON".
        fail_at(d.where, "dlopen() \"" + path + "\" failed (" + path +
                             ": cannot open shared object file: " + std::strerror(errno) + ")");
    }
    const std::string base = path.substr(path.rfind('/') + 1);
    if (!c.modules().load(base))
        fail_at(d.where, "dynamic module \"" + path + "\" is not supported by ngxlite");
}

bool is_log_level(std::string_view s) {
    for (auto l : {"stderr", "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"})
        if (s == l) return s != "stderr";
    return false;
}

void error_log(Compiler&, Directive& d) {
    // error_log FILE [LEVEL]; "debug_*" levels only with --with-debug (Debian has it).
    if (d.args[1].starts_with("memory:")) return;
    if (d.args[1].starts_with("syslog:")) syslog_peer(d.args[1], d.where);  // its checks; compiled with the logs
    for (std::size_t i = 2; i < d.args.size(); ++i) {
        const std::string& level = d.args[i];
        if (!is_log_level(level) && !level.starts_with("debug_"))
            fail_at(d.where, "invalid log level \"" + level + "\"");
    }
}

void event_connections(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    auto n = parse_number(d.args[1]);
    if (!n) fail_at(d.where, "invalid number \"" + d.args[1] + "\"");
    d.value = *n;
}

void event_use(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    if (d.args[1] != "epoll" && d.args[1] != "select" && d.args[1] != "poll")
        fail_at(d.where, "invalid event type \"" + d.args[1] + "\"");
}

void set_env(Compiler&, Directive&) {}

// resolver (http, stream, mail): ngx_resolver_create's checks; the resolver it makes is
// kept in Config::resolvers, its index in the directive's value for the merges.
void resolver(Compiler& c, Directive& d) {
    reject_duplicate(c, d);
    if (d.spec->module == std::string_view("ngx_mail_core_module") && d.args[1] == "off") {
        d.value = -1;  // ngx_mail_core_resolver: none
        return;
    }
    ir::Resolver r;
    for (std::size_t i = 1; i < d.args.size(); ++i) {
        const std::string& a = d.args[i];
        if (a.starts_with("valid=")) {
            const auto v = parse_time(std::string_view(a).substr(6), true);
            if (!v) fail_at(d.where, "invalid parameter: " + a);
            r.valid = *v;
            continue;
        }
        if (a.starts_with("ipv6=")) {
            if (a == "ipv6=on") r.ipv6 = true;
            else if (a == "ipv6=off") r.ipv6 = false;
            else fail_at(d.where, "invalid parameter: " + a);
            continue;
        }
        ir::UrlOptions o;
        o.default_port = 53;
        const ir::ParsedUrl u = ir::parse_url(a, o);
        if (!u.err.empty()) fail_at(d.where, u.err + " in resolver \"" + a + "\"");
        r.servers.insert(r.servers.end(), u.addrs.begin(), u.addrs.end());
    }
    if (r.servers.empty()) fail_at(d.where, "no name servers defined");
    d.value = static_cast<std::int64_t>(c.config().resolvers.size());
    c.config().resolvers.push_back(std::move(r));
}

}  // namespace

void register_core_setters(SetterTable& t) {
    t["ngx_conf_include"] = include_file;
    t["ngx_events_block"] = events_block;
    t["ngx_set_user"] = set_user;
    t["ngx_set_worker_processes"] = set_worker_processes;
    t["ngx_load_module"] = load_module;
    t["ngx_error_log"] = error_log;
    t["ngx_http_core_error_log"] = error_log;
    t["ngx_stream_core_error_log"] = error_log;
    t["ngx_mail_core_error_log"] = error_log;
    t["ngx_event_connections"] = event_connections;
    t["ngx_event_use"] = event_use;
    t["ngx_set_env"] = set_env;
    t["ngx_http_core_resolver"] = resolver;
    t["ngx_stream_core_resolver"] = resolver;
    t["ngx_mail_core_resolver"] = resolver;
}

}  // namespace ngxlite::conf
