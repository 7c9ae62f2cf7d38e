// Helpers shared by the setters of every module.
#pragma once

#include "parser/compiler.hpp"
#include "parser/variables.hpp"

#include <string>
#include <string_view>

namespace ngxlite::conf {

// Where a directive stands, as the IR keeps it for messages at start.
inline ir::SourceLocation location_of(const SourceRef& w) { return {w.file ? *w.file : "", w.line}; }

// " in FILE:LINE" ("command line" for -g): where the messages of nginx's post-parse
// steps end.
std::string at(const SourceRef& w);
// nginx's "is duplicate": the directive already appears in this block.
void reject_duplicate(Compiler& c, const Directive& d);
// `"NAME" directive WHAT`, the form nginx uses when a setter returns a string.
[[noreturn]] void fail_directive(const Directive& d, const std::string& what);
// The variable a set/map/geo/... directive defines: args[index] without its '$', or
// nginx's `invalid variable name "x"`.
std::string_view variable_target(const Directive& d, std::size_t index);


// Index of `word` in the spec's allowed values (case-insensitive), or -1.
int value_index(const DirectiveSpec& spec, std::string_view word);

// `server` inside upstream {} (http and stream): parameters, then the address.
// `set $name value` (http, stream, auth_request_set) and nginx's complex-value slots:
// the variable scope follows the current context.
void set_variable(Compiler& c, Directive& d);
void complex_value(Compiler& c, Directive& d);
void complex_value_size(Compiler& c, Directive& d);
void proxy_bind(Compiler& c, Directive& d);  // http's and stream's
// proxy_cookie_flags: checked as nginx reads it, then compiled into a location's rule.
void proxy_cookie_flags(Compiler& c, Directive& d);
ir::ProxyCookieFlags cookie_flags_rule(const Directive& d, VariableScope& vars);
// proxy_cookie_domain and proxy_cookie_path: `off`, or a pattern (~regex, or a string with
// variables) and its replacement; the rules of a location, in order.
void proxy_cookie_rewrite(Compiler& c, Directive& d);
std::vector<ir::ProxyCookieRewrite> cookie_rewrite_rules(const std::vector<const Directive*>& list, VariableScope& vars);
// allow/deny in http and stream (ngx_http_access_rule, ngx_stream_access_rule): ADDRESS[/BITS],
// `unix:` or `all`, checked as nginx checks them; the rule the runtime matches.
void access_rule(Compiler& c, Directive& d);
ir::AccessRule access_rule_of(const Directive& d);
class Scope;
// A location's access phase: its allow/deny rules (the innermost level's), auth_basic,
// satisfy and auth_delay.
void merge_access_phase(Compiler& c, const Scope& s, ir::Location& loc);
// set_real_ip_from's rules: as access_rule_of, and a host name trusts each address it
// resolves to (ngx_http_realip_from).
// listen's rcvbuf=, sndbuf=, so_keepalive=, fastopen= into `l` (false: `a` is none of
// them); a bad value is nginx's [emerg].
bool listen_socket_option(const std::string& a, const SourceRef& where, ir::Listen& l);

void add_real_ip_from(const Directive& d, std::vector<ir::AccessRule>& out);
// map {}, log_format and access_log, in http or stream.
void map_block(Compiler& c, Directive& d);
void log_format(Compiler& c, Directive& d);
void access_log(Compiler& c, Directive& d);
void open_log_file_cache(Compiler& c, Directive& d);  // http and stream
void geo_block(Compiler& c, Directive& d);            // http and stream (geo.cpp)

// `backup_supported`: the balancing method set so far allows backup servers.
ir::UpstreamServer parse_upstream_server(const Directive& d, bool resolve, std::uint16_t default_port,
                                         bool backup_supported);
bool supports_backup(ir::Balancer b);

class Scope;
// The ssl module's settings of one server (http and stream), its context built; nullopt
// when it has no certificate (and no ssl_reject_handshake).
std::optional<ir::SslServerSettings> merge_server_ssl(Compiler& c, const Scope& s, VariableScope& vars);
// access_log's buffer=, flush= and gzip[=level] as ngx_http_log_set_log reads them (gzip
// is level 1, and a 64k buffer without buffer=); the first error's message, if any.
std::optional<std::string> read_log_buffer(const Directive& d, LogBufferSettings& out);
// access_log merged down `s` (http, stream), formats resolved; no default added.
std::vector<ir::AccessLog> merge_access_logs(Compiler& c, const Scope& s, const std::vector<ir::LogFormat>& formats,
                                            VariableScope& vars);
// error_log merged down `s` (http, stream): the nearest block's list, as an index into
// Config::context_error_logs, or -1 for the main error log.
int merge_error_log(Compiler& c, const Scope& s);
// A complex-value size slot merged down `s` (limit_rate, proxy_upload_rate, ...): the size,
// or the value to evaluate when it holds variables.
ir::ComplexSize merge_complex_size(const Scope& s, DirectiveName name, VariableScope& vars);
// gzip and the core module's gzip_* settings merged down `s`; none with `gzip off`.
std::shared_ptr<const ir::Gzip> merge_gzip(const Scope& s);
// proxy_bind merged down `s` (http, stream); nullopt for none or `off`.
std::optional<ir::ProxyBind> merge_proxy_bind(const Scope& s, VariableScope& vars);
// Every proxy_ssl_* setting merged down `s` (http proxy, stream proxy).
ir::SslClientSettings merge_proxy_ssl(Compiler& c, const Scope& s, VariableScope& vars);

}  // namespace ngxlite::conf
