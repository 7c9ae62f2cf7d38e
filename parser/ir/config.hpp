// The typed, immutable configuration the runtime reads. Built once per load by the
// compiler (settings merged parent to child, nginx's defaults applied); a reload builds
// a new one and live connections keep theirs through shared_ptr<const Config>.
// Over 600 lines: nginx's settings for every context the runtime serves, one struct per
// context, read top to bottom as nginx's modules nest; its parts live in their own
// headers where they stand alone (templates, regexes, variables, the location tree).
#pragma once

#include "parser/ir/location_tree.hpp"
#include "parser/ir/regex.hpp"
#include "parser/ir/template.hpp"
#include "parser/ir/variables.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

struct ssl_ctx_st;    // OpenSSL's SSL_CTX
struct x509_st;       // X509
struct stack_st_X509; // STACK_OF(X509)

namespace ngxlite::ir {

using Msec = std::chrono::milliseconds;
using MimeTypes = std::unordered_map<std::string, std::string>;  // extension -> type

struct SourceLocation {
    std::string file;
    std::size_t line = 0;
    // " in FILE:LINE", the tail of nginx's messages about a directive.
    std::string in() const { return " in " + file + ":" + std::to_string(line); }
};

// A numeric socket address, resolved at load time ("127.0.0.1", 8080), or a unix-domain
// socket's path ("unix:/run/app.sock": `ip` holds the path, no port).
struct Endpoint {
    std::string ip;
    std::uint16_t port = 0;
    bool ipv6 = false;
    bool unix_socket = false;
    // nginx's addr_text: "unix:PATH" for a unix socket.
    std::string text() const {
        if (unix_socket) return "unix:" + ip;
        return ipv6 ? "[" + ip + "]:" + std::to_string(port) : ip + ":" + std::to_string(port);
    }
    bool operator==(const Endpoint&) const = default;
};

// TLS protocol versions, as the *_ssl_protocols bitmask directives name them.
enum TlsProtocol : std::uint32_t {
    kSSLv2 = 1u << 1,
    kSSLv3 = 1u << 2,
    kTLSv1 = 1u << 3,
    kTLSv1_1 = 1u << 4,
    kTLSv1_2 = 1u << 5,
    kTLSv1_3 = 1u << 6,
};
// nginx 1.22.1's default for ssl_protocols and proxy_ssl_protocols (no TLSv1.3 unless listed).
constexpr std::uint32_t kDefaultTlsProtocols = kTLSv1 | kTLSv1_1 | kTLSv1_2;

struct SslCertificate {
    std::string certificate;
    std::string key;
};

// A certificate and key named by variables (nginx's certificate_values): evaluated and
// loaded per handshake (ssl_certificate) or per upstream connection (proxy_ssl_certificate);
// a relative result is taken from the configuration's prefix, as ngx_get_full_name does.
struct CertificateTemplate {
    Template certificate;
    Template key;
    std::string conf_prefix;
};

// Every proxy_ssl_* setting, merged (http: http -> server -> location; stream: stream -> server).
struct SslClientSettings {
    bool enabled = false;            // https:// upstream, or stream `proxy_ssl on`
    std::string certificate;         // proxy_ssl_certificate (path, may hold variables)
    std::string certificate_key;     // proxy_ssl_certificate_key
    std::optional<CertificateTemplate> certificate_value;  // set when either holds variables
    std::vector<std::string> passwords;  // lines of proxy_ssl_password_file
    std::string trusted_certificate;
    std::string crl;
    bool verify = false;
    int verify_depth = 1;
    std::string name;                // proxy_ssl_name; empty means the proxied host
    Template name_template;           // proxy_ssl_name compiled; empty: the proxied host
    bool server_name = false;        // send SNI
    std::uint32_t protocols = kDefaultTlsProtocols;
    std::string ciphers = "DEFAULT";
    std::vector<std::pair<std::string, std::string>> conf_commands;
    bool session_reuse = true;
    // Built at load time as nginx's ngx_http_proxy_set_ssl does: protocols, ciphers, the
    // client certificate, the trusted store and CRL, conf commands; shared by the workers.
    std::shared_ptr<ssl_ctx_st> context;
};


// An OCSP responder's URL ("http://host[:port][/uri]") as ngx_parse_url leaves it: the
// name sent as Host (without the port), the port, the URI ("" for "/"), and the
// addresses the name resolved to at load time (an address literal gives itself; none
// when the name is left to the resolver).
struct OcspResponder {
    std::string host;
    std::uint16_t port = 80;
    std::string uri;
    std::vector<Endpoint> addrs;
};

// ssl_stapling: one certificate of a server's context as ngx_ssl_stapling_certificate
// prepared it at load time. The runtime staples `file_response` as it is, or fetches a
// response from `responder` (none: the certificate's stapling was ignored with a warning).
struct StapleSource {
    std::shared_ptr<x509_st> certificate;   // the context's own (the one a handshake uses)
    std::shared_ptr<x509_st> issuer;        // from its chain or the context's store
    std::shared_ptr<stack_st_X509> chain;   // the certificate's chain (ssl_certificate's extra ones)
    std::string name;                       // the certificate's file, for log lines
    std::string file_response;              // ssl_stapling_file's response (DER), or ""
    std::optional<OcspResponder> responder;
};

// listen ... ssl: the ssl_* settings of a server, merged http -> server.
struct SslServerSettings {
    std::vector<SslCertificate> certificates;
    // Set when any certificate or key holds variables: then none is loaded at load time
    // and each handshake loads them all (ngx_http_ssl_certificate).
    std::vector<CertificateTemplate> certificate_values;
    std::vector<std::string> passwords;
    std::uint32_t protocols = kDefaultTlsProtocols;
    std::string ciphers = "HIGH:!aNULL:!MD5";
    bool prefer_server_ciphers = false;
    std::string ecdh_curve = "auto";
    std::string dhparam;
    // ssl_session_cache: "off", "none" (the default: ids sent, nothing kept), or a store of
    // `session_cache_size` sessions (builtin[:N] and shared:NAME:SIZE alike: the workers
    // are threads of one process and share the context's store).
    enum class SessionCache { off, none, store } session_cache = SessionCache::none;
    std::int64_t session_cache_size = 0;  // 0: OpenSSL's default size
    Msec session_timeout{300000};
    bool session_tickets = true;
    std::vector<std::string> session_ticket_keys;
    enum class VerifyClient { off, on, optional, optional_no_ca } verify_client = VerifyClient::off;
    int verify_depth = 1;
    std::string client_certificate;
    std::string trusted_certificate;
    std::string crl;
    std::vector<std::pair<std::string, std::string>> conf_commands;
    bool early_data = false;
    bool reject_handshake = false;  // ssl_reject_handshake: no certificate needed
    std::string alpn;  // stream's ssl_alpn, in the wire format (length-prefixed names); empty: none
    // ssl_stapling, ssl_stapling_file (full path), ssl_stapling_responder, ssl_stapling_verify;
    // `staples` is built with the context, one per certificate loaded at load time.
    bool stapling = false;
    std::string stapling_file;
    std::string stapling_responder;
    bool stapling_verify = false;
    std::vector<StapleSource> staples;
    // ssl_ocsp (off, on: every certificate of the client's chain but the root, leaf),
    // ssl_ocsp_responder as parsed (none: each certificate's own), ssl_ocsp_cache's shared
    // zone (empty name: none).
    enum class Ocsp { off, on, leaf } ocsp = Ocsp::off;
    std::string ocsp_responder_url;
    std::optional<OcspResponder> ocsp_responder;
    std::string ocsp_cache;
    std::int64_t ocsp_cache_size = 0;
    // The server's resolver (Config::resolvers, -1: none): OCSP responders named by host.
    int resolver = -1;
    Msec resolver_timeout{30000};
    bool enable = false;            // the deprecated `ssl on`: TLS where this server is the default
    // Built at load time as ngx_http_ssl_merge_srv_conf does; shared by the workers.
    std::shared_ptr<ssl_ctx_st> context;
};

struct Listen {
    Endpoint endpoint;
    bool wildcard = false;   // 0.0.0.0 or [::]
    bool default_server = false;
    bool ssl = false;
    bool http2 = false;
    bool reuseport = false;
    bool ipv6only = true;
    int backlog = 511;
    bool proxy_protocol = false;
    // The listening socket's options (ngx_configure_listening_sockets); -1 / 0: not set.
    int rcvbuf = -1, sndbuf = -1;
    int keepalive = 0;                           // so_keepalive: 1 on, 2 off
    int keepidle = 0, keepintvl = 0, keepcnt = 0;  // so_keepalive=idle:intvl:cnt (seconds, seconds, probes)
    int fastopen = -1;
    bool deferred = false;   // TCP_DEFER_ACCEPT
    bool bind = false;       // bound on its own even when a wildcard covers its port
    bool udp = false;
    SourceLocation where;
    // The listening socket's name among the bound ones: UDP and TCP may share an address.
    std::string key() const { return udp ? endpoint.text() + " udp" : endpoint.text(); }
};

struct UpstreamServer {
    std::string name;                 // as written ("backend1:443")
    std::vector<Endpoint> endpoints;  // what it resolved to
    int weight = 1;
    int max_fails = 1;
    Msec fail_timeout{10000};
    int max_conns = 0;
    bool backup = false;
    bool down = false;
};

enum class Balancer { round_robin, least_conn, ip_hash, hash, hash_consistent, random, random_two };

// `resolver ADDRESS ... [valid=TIME] [ipv6=on|off]` (ngx_resolver_create): one object per
// directive, shared by every block that inherits it (its answers are cached per worker).
struct Resolver {
    std::vector<Endpoint> servers;  // each address the names resolved to, port 53 by default
    std::int64_t valid = 0;         // seconds; 0: each answer's TTL
    bool ipv6 = true;               // AAAA queries too (nginx's default)
};

struct UpstreamGroup {
    std::string name;
    bool implicit = false;  // made by proxy_pass http://host:port
    std::uint16_t port = 0; // an implicit group's port; 0 for upstream {} (nginx's uscf->port)
    std::vector<UpstreamServer> servers;
    Balancer balancer = Balancer::round_robin;
    Template hash_key;      // hash $key, compiled
    int keepalive = 0;      // idle connections kept per worker
    Msec keepalive_timeout{60000};
    int keepalive_requests = 1000;
    Msec keepalive_time{3600000};  // a connection older is closed after its exchange
    SourceLocation where;
};

struct HeaderSetting {
    std::string name;
    Template value;
};

struct AddHeader {
    std::string name;
    Template value;
    bool always = false;
};

struct LogFormat {
    std::string name;
    enum class Escape { default_escape, json, none } escape = Escape::default_escape;
    Template format;
};

// A syslog:... log (ngx_syslog_peer_t): UDP to `server`, RFC 3164 headers.
struct SyslogPeer {
    Endpoint server;
    int facility = 23;  // local7
    int severity = 6;   // info: access_log's; an error line has its own level's
    std::string tag = "nginx";
    bool nohostname = false;
    bool operator==(const SyslogPeer&) const = default;
};

// open_log_file_cache: log files named by variables kept open, one cache per directive
// (the locations and servers that inherit it share it), nginx's per worker.
struct OpenLogCache {
    std::size_t max = 0;
    Msec inactive{10000};
    Msec valid{60000};
    std::uint64_t min_uses = 1;  // uses before a file is kept open
};

struct AccessLog {
    Template path;             // "stderr", a file, "syslog:...", or a path with variables
    std::shared_ptr<const OpenLogCache> cache;  // for a path with variables; none: opened per line
    std::optional<SyslogPeer> syslog;  // for "syslog:..."
    std::string format = "combined";
    std::size_t format_index = 0;  // into HttpConfig::log_formats, resolved at load time
    std::int64_t buffer = 0;   // buffer=
    Msec flush{0};             // flush=
    int gzip = 0;              // gzip[=level]
    std::optional<Template> condition;  // if=
};

struct Geo;  // below, after AccessRule

// map $source $variable { ... }: exact keys, then regexes in order, then the default.
struct Map {
    std::string variable;
    Template source;
    bool hostnames = false;
    bool is_volatile = false;  // `volatile`: evaluated at each use, not once per request
    std::vector<std::pair<std::string, Template>> exact;
    struct RegexEntry {
        std::shared_ptr<const Regex> regex;
        Template value;
    };
    std::vector<RegexEntry> regexes;
    Template default_value;
    // split_clients (no keys then): the first part whose bound is above the source's
    // MurmurHash2, or a bound of 0 (`*`); none: the value is empty.
    struct SplitPart {
        std::uint32_t below = 0;
        std::string value;
    };
    std::vector<SplitPart> split;
    std::shared_ptr<const Geo> geo;  // geo {}: the source is the address (none: the client's)
};

struct Return {
    int code = 0;   // 0 with a URL: 302
    Template text;  // body, or the redirect URL
};

// A size that may be given with variables (nginx's complex value size): `size` unless
// `value` is set, which is evaluated per session (one that is no size counts as 0).
struct ComplexSize {
    std::int64_t size = 0;
    std::optional<Template> value;
};

// limit_except's methods, as nginx's NGX_HTTP_* method bits.
enum Method : std::uint32_t {
    kMethodGet = 1u << 1, kMethodHead = 1u << 2, kMethodPost = 1u << 3, kMethodPut = 1u << 4,
    kMethodDelete = 1u << 5, kMethodMkcol = 1u << 6, kMethodCopy = 1u << 7, kMethodMove = 1u << 8,
    kMethodOptions = 1u << 9, kMethodPropfind = 1u << 10, kMethodProppatch = 1u << 11,
    kMethodLock = 1u << 12, kMethodUnlock = 1u << 13, kMethodPatch = 1u << 14, kMethodTrace = 1u << 15,
};

// A method name's bit, for limit_except's names (any case, as nginx reads them) and a
// request's method (upper case: nginx's parser takes no other); 1, NGX_HTTP_UNKNOWN, for
// a name nginx does not know (the setter refuses those in limit_except).
std::uint32_t method_bit(std::string_view method);

struct Location;

// `if (...)`: nginx's ngx_http_rewrite_if_condition, compiled.
struct IfCondition {
    enum class Kind { variable, equal, not_equal, match, not_match, file, directory, exists, executable } kind = Kind::variable;
    bool negated = false;    // !-f, !-d, !-e, !-x
    Template subject;        // the variable, or the path
    Template value;          // for = and !=
    std::shared_ptr<const Regex> regex;  // for ~ ~* !~ !~*
};

// One statement of the rewrite module's script, which nginx runs in config order:
// rewrite, return, set, if, break.
struct RewriteOp {
    enum class Kind { rewrite, return_, set, if_, break_ } kind = Kind::break_;
    // rewrite regex replacement [flag]
    std::shared_ptr<const Regex> regex;
    Template replacement;  // without a trailing '?', which drops the request's arguments
    bool add_args = true;  // false when the replacement ended with '?'
    bool redirect = false; // an absolute replacement, `redirect` or `permanent`
    int status = 0;        // 301 or 302 for redirects
    enum class Flag { none, last, break_ } flag = Flag::none;
    // return
    Return ret;
    // set $variable value: its index in Variables::names
    int variable = -1;
    Template value;
    // if: the block's settings (content, proxy, headers) with its own script
    IfCondition condition;
    std::shared_ptr<const Location> if_location;
    SourceLocation where;
};

enum NextUpstream : std::uint32_t {
    kNextError = 1u << 1,
    kNextTimeout = 1u << 2,
    kNextInvalidHeader = 1u << 3,
    kNextNonIdempotent = 1u << 4,
    kNextHttp500 = 1u << 5,
    kNextHttp502 = 1u << 6,
    kNextHttp503 = 1u << 7,
    kNextHttp504 = 1u << 8,
    kNextHttp403 = 1u << 9,
    kNextHttp404 = 1u << 10,
    kNextHttp429 = 1u << 11,
    kNextUpdating = 1u << 12,
    kNextOff = 1u << 13,
};

// proxy_redirect: a Location header starting with `from` (or matching the regex) gets
// `to` in its place; the first rule that applies wins.
struct ProxyRedirect {
    Template from;
    std::shared_ptr<const Regex> regex;  // ~from, ~*from
    Template to;
};

// proxy_cookie_flags: a Set-Cookie whose name is `cookie` (any case) or matches the regex
// gets its Secure, HttpOnly and SameSite attributes edited as `flags` say.
struct ProxyCookieFlags {
    Template cookie;
    std::shared_ptr<const Regex> regex;  // ~name
    std::vector<Template> flags;         // "secure", "nohttponly", "samesite=lax", ...
};

// proxy_cookie_domain / proxy_cookie_path: a Set-Cookie's domain= (the value without a
// leading dot equal to `pattern`, any case) or path= (starting with `pattern`) value, or
// one the regex matches, gets `replacement` for the part that matched.
struct ProxyCookieRewrite {
    Template pattern;
    std::shared_ptr<const Regex> regex;  // ~pattern (domain: caseless; path: ~* caseless)
    Template replacement;
};

// proxy_bind: the local address upstream connections are made from.
struct ProxyBind {
    std::optional<Endpoint> address;  // a static one
    std::string name;                 // as written, for nginx's "bind(NAME) failed"
    std::optional<Template> value;    // with variables: evaluated per session, empty binds none
    bool transparent = false;
    SourceLocation where;
};

// The http proxy module's settings for one location, merged.
struct ProxySettings {
    std::string pass;            // proxy_pass as written ("" when none)
    bool pass_has_variables = false;
    Template pass_template;      // proxy_pass with variables, compiled
    std::string upstream;        // the upstream group name it reaches (when static)
    int upstream_index = -1;     // into HttpConfig::upstreams (when static)
    std::string proxy_host;      // $proxy_host: the name, with the port unless it is the default
    std::string proxy_port;      // $proxy_port: the URL's port or the scheme's; none for a unix socket
    std::string scheme;          // "http" or "https"
    SourceLocation where;        // the proxy_pass directive
    std::string uri;             // the URI part of proxy_pass
    Msec connect_timeout{60000};
    bool socket_keepalive = false;  // proxy_socket_keepalive: SO_KEEPALIVE before the connect
    bool ignore_client_abort = false;  // proxy_ignore_client_abort: the client is not watched
    std::vector<ProxyCookieRewrite> cookie_domains;  // proxy_cookie_domain, in order
    std::vector<ProxyCookieRewrite> cookie_paths;    // proxy_cookie_path, in order
    Msec read_timeout{60000};
    Msec send_timeout{60000};
    int http_version_minor = 0;  // proxy_http_version 1.0
    std::vector<HeaderSetting> set_headers;  // proxy_set_header list, then nginx's defaults
    std::vector<ProxyRedirect> redirects;  // `default` expanded; empty for `off`
    std::vector<ProxyCookieFlags> cookie_flags;  // empty for `off`
    std::optional<ProxyBind> bind;               // proxy_bind, unless off
    std::vector<std::string> hide_headers;
    std::vector<std::string> pass_headers;
    bool pass_request_headers = true;
    bool pass_request_body = true;
    std::optional<Template> set_body;  // proxy_set_body
    std::optional<Template> method;    // proxy_method
    bool buffering = true;
    // proxy_request_buffering: off sends the client's body upstream as it comes.
    bool request_buffering = true;
    bool change_buffering = true;  // X-Accel-Buffering is obeyed (not in proxy_ignore_headers)
    bool accel_redirect = true;    // X-Accel-Redirect is followed (not in proxy_ignore_headers)
    bool accel_limit_rate = true;  // X-Accel-Limit-Rate sets the rate (not in proxy_ignore_headers)
    std::int64_t buffer_size = 4096;
    int buffers_count = 8;
    std::int64_t buffers_size = 4096;
    bool intercept_errors = false;
    std::uint32_t next_upstream = kNextError | kNextTimeout;
    int next_upstream_tries = 0;
    Msec next_upstream_timeout{0};
    SslClientSettings ssl;
    int resolver = -1;                 // the location's resolver (Config::resolvers), -1: none
    Msec resolver_timeout{30000};
};

// error_page CODE... [=[RESPONSE]] URI: one entry per code.
struct ErrorPage {
    int status = 0;      // the code it answers
    int overwrite = -1;  // =RESPONSE; 0 for a bare "=" (the redirected answer's own status)
    Template uri;        // "/uri", "@name", or a URL to redirect to
};

// try_files FILE... URI|=CODE (not inherited, as in nginx).
struct TryFiles {
    std::vector<Template> files;  // a trailing '/' tests for a directory
    Template fallback;            // the internal redirect when none exists
    int code = 0;                 // =CODE instead of a fallback
};

// allow/deny: the first rule matching the client's address decides.
struct AccessRule {
    bool allow = false;
    bool all = false;  // "all": every address
    bool unix_socket = false;  // "unix:": every unix-domain peer
    bool ipv6 = false;
    std::array<unsigned char, 16> address{};
    std::array<unsigned char, 16> mask{};
};

// geo: a value by the client's address, or by the address a variable holds (nginx's
// radix trees: the longest prefix holding a value; with `ranges`, IPv4 ranges).
struct Geo {
    using Address = std::array<unsigned char, 16>;  // IPv4 in the first 4 bytes
    struct Level {
        int prefix = 0;
        std::vector<std::pair<Address, std::uint32_t>> networks;  // masked, sorted; into values
    };
    struct Range {
        std::uint32_t start = 0, end = 0;
        std::uint32_t value = 0;
    };
    std::vector<std::string> values;
    std::vector<Level> ipv4, ipv6;  // longest prefix first; each ends with prefix 0
    bool ranges = false;
    std::vector<Range> range_list;  // sorted, disjoint
    std::uint32_t range_default = 0;
    std::vector<AccessRule> proxies;  // `proxy`: X-Forwarded-For names the client
    bool proxy_recursive = false;
};

// auth_basic and auth_basic_user_file, each merged on its own as nginx does: set when both
// are (a literal realm "off" leaves it unset). The file is read on every request.
struct AuthBasic {
    Template realm;      // evaluating to "off": no authentication
    Template user_file;  // full at load time unless it starts with a variable
    std::string conf_prefix;  // then a relative value is taken from here, as ngx_get_full_name
};

// gzip (ngx_http_gzip_filter_module) with the core module's gzip_* settings it reads
// (ngx_http_gzip_ok), merged once at load; a location with `gzip off` has none.
struct Gzip {
    // gzip_types as lowercase MIME types (text/html always among them); `*`: any type.
    std::vector<std::string> types;
    bool any_type = false;
    int level = 1;             // gzip_comp_level
    int window_bits = 15;      // gzip_window as zlib's windowBits
    int mem_level = 8;         // gzip_hash as zlib's memLevel
    std::int64_t min_length = 20;
    int buffers = 32;          // gzip_buffers: number and size of the output buffers
    std::size_t buffer_size = 4096;
    std::size_t postpone = 0;  // postpone_gzipping: input held until more than this came
    // gzip_proxied as the bitmask setter gives it: off 1<<1, expired 1<<2, no-cache 1<<3,
    // no-store 1<<4, private 1<<5, no_last_modified 1<<6, no_etag 1<<7, auth 1<<8, any 1<<9.
    std::uint32_t proxied = 1u << 1;
    bool vary = false;
    int http_version = 11;     // gzip_http_version: 10 or 11
    std::vector<std::shared_ptr<const Regex>> disable;  // gzip_disable's regexes (caseless)
    bool disable_msie6 = false;
};

enum class LocationMatch { exact, prefix, prefix_no_regex, regex, regex_caseless, named };

struct Location {
    LocationMatch match = LocationMatch::prefix;
    std::string name;
    std::shared_ptr<const Regex> regex;
    bool internal = false;
    // A location named ".../" with proxy_pass: its name without the slash is redirected
    // to it (nginx's auto_redirect).
    bool auto_redirect = false;
    std::string root = "html";
    std::string alias;
    std::optional<Template> root_template;   // root with variables
    std::optional<Template> alias_template;  // alias with variables (regex locations' captures)
    std::string prefix;  // where a relative root or alias with variables is, once evaluated (-p)
    std::vector<ErrorPage> error_pages;
    std::vector<AccessRule> access_rules;  // the innermost level's allow/deny, in order
    std::optional<AuthBasic> auth_basic;
    enum class Satisfy { all, any } satisfy = Satisfy::all;  // how allow/deny and auth_basic combine
    Msec auth_delay{0};  // before a 401 goes out
    // realip: addresses trusted to name the client (set_real_ip_from, as allow rules),
    // the header that does (real_ip_header), and real_ip_recursive.
    std::vector<AccessRule> real_ip_from;
    std::string real_ip_header = "X-Real-IP";
    bool real_ip_recursive = false;
    bool recursive_error_pages = false;
    std::optional<TryFiles> try_files;
    std::optional<ProxySettings> proxy;  // set where proxy_pass is
    // The rewrite module's statements of this level (not inherited: a server's run in
    // nginx's server rewrite phase, a location's after the location is found).
    std::vector<RewriteOp> script;
    std::vector<AddHeader> add_headers;  // a block with add_header replaces the parent's list
    // expires: Expires and Cache-Control on successful answers.
    enum class Expires { off, epoch, max, access, modified, daily } expires = Expires::off;
    std::int64_t expires_seconds = 0;  // access/modified: the offset; daily: seconds after midnight
    std::vector<AccessLog> access_logs;  // empty: access_log off
    std::vector<std::string> index{"index.html"};
    std::vector<Template> index_values;  // the same, compiled (index names may hold variables)
    std::shared_ptr<const MimeTypes> types;  // the innermost types {} block
    std::string default_type = "text/plain";
    bool server_tokens = true;
    std::int64_t client_max_body_size = 1048576;
    // The request body: kept in memory up to client_body_buffer_size, else (and always
    // with client_body_in_file_only) also written to a file of client_body_temp_path.
    std::int64_t client_body_buffer_size = 8192;
    enum class BodyInFile { off, on, clean } client_body_in_file_only = BodyInFile::off;
    std::string client_body_temp_path;  // full path
    std::vector<int> client_body_temp_levels;
    int error_log = -1;  // Config::context_error_logs, merged from the server and http
    Msec keepalive_timeout{75000};
    std::int64_t keepalive_header = -1;  // keepalive_timeout's second value: "Keep-Alive: timeout=N
    Msec client_body_timeout{60000};
    Msec send_timeout{60000};
    int keepalive_requests = 1000;
    Msec keepalive_time{3600000};
    // keepalive_disable: bits as the bitmask setter gives them (none 1<<1, msie6 1<<2, safari 1<<3).
    std::uint32_t keepalive_disable = 1u << 2;
    // Redirects nginx builds itself (directory, `return` of a relative URI, error_page).
    bool absolute_redirect = true;
    bool port_in_redirect = true;
    bool server_name_in_redirect = false;
    bool chunked_transfer_encoding = true;
    bool etag = true;
    enum class IfModifiedSince { off, exact, before } if_modified_since = IfModifiedSince::exact;
    bool log_not_found = true;
    std::int64_t max_ranges = -1;  // -1: no limit
    enum class Symlinks { off, if_not_owner, on } disable_symlinks = Symlinks::off;
    std::optional<Template> disable_symlinks_from;
    // limit_rate and limit_rate_after (bytes a second, bytes; with variables per request).
    ComplexSize limit_rate, limit_rate_after;
    std::string post_action;  // a URI or @name run after the response, its output dropped
    std::vector<AddHeader> add_trailers;  // a block with add_trailer replaces the parent's list
    std::shared_ptr<const Gzip> gzip;  // none: gzip off
    // limit_except: methods outside `limit_except_methods` (bits of kMethod*) get the
    // block's settings (allow/deny, proxy_pass, ...).
    std::shared_ptr<const Location> limit_except;
    std::uint32_t limit_except_methods = 0;
    // Nested locations in nginx's match order: exact and prefix ones sorted by name
    // (exact first on a tie), then regexes in config order, then named ones.
    std::vector<Location> locations;
    StaticLocationTree static_tree;  // the exact and prefix ones of `locations`
    SourceLocation where;
};

struct ServerName {
    std::string name;
    std::shared_ptr<const Regex> regex;  // for ~names
};

struct HttpServer {
    std::vector<Listen> listens;
    // Header parsing (the default server's apply until the Host header picks one).
    bool underscores_in_headers = false;
    bool ignore_invalid_headers = true;
    Msec client_header_timeout{60000};
    std::size_t header_buffer_size = 1024;        // client_header_buffer_size
    std::size_t large_header_buffers = 4;         // large_client_header_buffers N size
    std::size_t large_header_buffer_size = 8192;
    std::int64_t max_headers = 1000;              // Debian's max_headers
    bool merge_slashes = true;
    std::vector<ServerName> names;
    // nginx's cscf->server_name: the first name ("~regex" as written, ".name" without its
    // dot, "" for none): $server_name, the error log's "server:", server_name_in_redirect.
    std::string server_name;
    std::optional<SslServerSettings> ssl;  // set when the server has a certificate
    // ssl_verify_client as merged, certificate or not: a request's checks read its server's
    // (nginx's sscf->verify), whichever server's context made the handshake.
    SslServerSettings::VerifyClient verify_client = SslServerSettings::VerifyClient::off;
    Location root_location;                // the server level settings
    std::vector<Location> locations;       // in nginx's match order
    StaticLocationTree static_tree;        // the exact and prefix ones of `locations`
    SourceLocation where;
};

// One listening address:port and the servers on it (indexes into HttpConfig::servers).
struct HttpAddress {
    Listen listen;  // options merged as nginx does
    std::vector<std::size_t> servers;
    std::size_t default_server = 0;
};

struct HttpConfig {
    std::vector<HttpAddress> addresses;
    std::vector<LogFormat> log_formats;  // "combined" first
    std::vector<Map> maps;
    Variables variables;  // what http{}'s Templates index
    std::vector<HttpServer> servers;
    std::vector<UpstreamGroup> upstreams;
};

struct StreamServer {
    std::vector<Listen> listens;
    std::string proxy_pass;
    bool pass_has_variables = false;
    Template pass_template;  // proxy_pass with variables: "host:port" or a group's name
    // ngx_stream_set_module's `set`s (the variable's index in Variables::names), run in
    // order when a session starts; `return`'s value, sent instead of proxying.
    std::vector<std::pair<int, Template>> sets;
    std::optional<Template> return_value;
    std::vector<AccessRule> access_rules;  // allow/deny: the server's, else stream{}'s
    std::vector<AccessLog> access_logs;  // merged: the server's, else stream{}'s; none by default
    bool ssl_preread = false;            // read the ClientHello first, for $ssl_preread_*
    bool proxy_protocol = false;         // a PROXY protocol v1 header to the upstream first
    std::optional<ProxyBind> bind;       // proxy_bind, unless off
    ComplexSize upload_rate, download_rate;  // bytes a second, 0: no limit
    std::int64_t preread_buffer_size = 16384;
    Msec preread_timeout{30000};
    int error_log = -1;       // Config::context_error_logs, merged from stream {}
    int upstream_index = -1;  // the StreamConfig::upstreams group a static proxy_pass reaches
    bool next_upstream = true;      // proxy_next_upstream
    int next_upstream_tries = 0;    // 0: no limit
    Msec next_upstream_timeout{0};  // 0: no limit
    bool half_close = false;        // proxy_half_close
    bool socket_keepalive = false;  // proxy_socket_keepalive
    Msec ssl_handshake_timeout{60000};
    Msec connect_timeout{60000};
    Msec timeout{600000};
    int resolver = -1;  // the server's resolver (Config::resolvers), -1: none
    Msec resolver_timeout{30000};
    std::int64_t buffer_size = 16384;
    // udp: a session's datagrams from the client before its binding is dropped (0: never),
    // and those from the upstream expected per datagram sent (nginx's NGX_MAX_INT32_VALUE: any).
    std::int64_t proxy_requests = 0;
    std::int64_t proxy_responses = 0x7fffffff;
    SslClientSettings ssl;
    std::optional<SslServerSettings> ssl_server;
    SourceLocation where;
};

struct StreamConfig {
    std::vector<StreamServer> servers;
    std::vector<UpstreamGroup> upstreams;
    std::vector<LogFormat> log_formats;  // no predefined one in stream
    std::vector<Map> maps;
    Variables variables;  // what stream{}'s Templates index
};

struct ErrorLog {
    std::string path;  // "stderr", a file or "syslog:..."
    std::string level = "error";
    std::optional<SyslogPeer> syslog;  // for "syslog:..."
    bool operator==(const ErrorLog&) const = default;
};

// A directive ngxlite checks like nginx but whose behaviour the runtime does not have
// yet: the runtime refuses or warns about these, never silently drops them.
// A directive the runtime does not act on: refused at start, or warned about and served without.
struct UnimplementedDirective {
    std::string name;
    std::string module;
    SourceLocation where;
    bool refused = true;
    std::string subject;  // what the message names when not the directive itself
};

struct Config {
    bool daemon = true;
    bool master_process = true;
    int worker_processes = 1;          // "auto" resolved to the CPU count
    std::string pid_path;
    std::vector<ErrorLog> error_logs;
    // The error_log lists of http and stream contexts, each once: a Location's or
    // StreamServer's error_log indexes it, -1 meaning the main list above.
    std::vector<std::vector<ErrorLog>> context_error_logs;
    std::string user = "nobody";  // workers' user when started as root (nginx's default on Debian)
    std::string group = "nogroup";
    Msec worker_shutdown_timeout{0};
    int worker_connections = 512;
    std::int64_t worker_rlimit_nofile = 0;  // 0: leave the limit as it is
    std::vector<Resolver> resolvers;   // every `resolver` of http and stream, indexed below
    // Every file an access_log names (http and stream), used or overridden: nginx opens
    // (creates) them all at load.
    std::vector<std::string> access_log_files;
    std::optional<HttpConfig> http;
    std::optional<StreamConfig> stream;
    std::vector<Listen> mail_listens;  // mail is checked like nginx, not served
    std::vector<UnimplementedDirective> unimplemented;
};

}  // namespace ngxlite::ir
