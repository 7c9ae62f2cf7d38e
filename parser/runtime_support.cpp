// Which directives ngxlite's runtime acts on today. Everything else is checked like
// nginx but recorded in ir::Config::unimplemented, so that the runtime can refuse to
// start or warn instead of silently behaving differently from nginx.
#include "parser/compiler.hpp"

#include <algorithm>

namespace ngxlite::conf {

bool runtime_implements(const DirectiveSpec& spec) {
    // What the HTTP runtime serves today (names of the core, event and http modules).
    static constexpr std::string_view implemented[] = {
        "include", "daemon", "master_process", "worker_processes", "pid", "error_log", "events",
        "worker_connections", "worker_shutdown_timeout", "user", "http", "server", "listen",
        "server_name", "location", "root", "index", "return", "types", "default_type",
        "access_log", "log_format", "add_header", "server_tokens", "client_max_body_size",
        "keepalive_timeout", "keepalive_requests", "load_module", "upstream", "server", "proxy_pass",
        "proxy_set_header", "proxy_http_version", "proxy_connect_timeout", "proxy_read_timeout",
        "proxy_send_timeout", "proxy_hide_header", "proxy_pass_header", "proxy_pass_request_headers",
        "proxy_pass_request_body", "proxy_next_upstream", "proxy_next_upstream_tries",
        "proxy_next_upstream_timeout", "proxy_buffer_size", "keepalive", "keepalive_timeout", "keepalive_requests", "least_conn",
        "ip_hash", "hash", "random", "rewrite", "if", "set", "break", "map", "internal",
        "error_page", "recursive_error_pages", "try_files", "alias", "proxy_redirect", "proxy_intercept_errors",
        "underscores_in_headers", "ignore_invalid_headers", "client_header_timeout", "client_body_timeout",
        "send_timeout", "allow", "deny", "worker_rlimit_nofile", "expires",
        "proxy_set_body", "proxy_method", "set_real_ip_from", "real_ip_header", "real_ip_recursive",
        "proxy_ssl_certificate", "proxy_ssl_certificate_key", "proxy_ssl_password_file", "proxy_ssl_trusted_certificate",
        "proxy_ssl_verify", "proxy_ssl_verify_depth", "proxy_ssl_crl", "proxy_ssl_name", "proxy_ssl_server_name",
        "proxy_ssl_protocols", "proxy_ssl_ciphers", "proxy_ssl_conf_command", "proxy_ssl_session_reuse",
        "ssl", "ssl_certificate", "ssl_certificate_key", "ssl_password_file", "ssl_protocols", "ssl_ciphers",
        "ssl_prefer_server_ciphers", "ssl_ecdh_curve", "ssl_dhparam", "ssl_session_cache", "ssl_session_timeout",
        "ssl_session_tickets", "ssl_session_ticket_key", "ssl_conf_command", "ssl_client_certificate",
        "ssl_trusted_certificate", "ssl_verify_client", "ssl_verify_depth", "ssl_crl", "ssl_reject_handshake"};
    // The stream runtime (issue 5): TCP proxying, its upstreams, TLS on both sides.
    static constexpr std::string_view stream_implemented[] = {
        "stream", "server", "listen", "upstream", "hash", "least_conn", "random", "proxy_pass",
        "proxy_connect_timeout", "proxy_timeout", "proxy_buffer_size", "proxy_next_upstream",
        "proxy_next_upstream_tries", "proxy_next_upstream_timeout", "proxy_half_close", "proxy_ssl",
        "proxy_ssl_certificate", "proxy_ssl_certificate_key", "proxy_ssl_password_file", "proxy_ssl_trusted_certificate",
        "proxy_ssl_verify", "proxy_ssl_verify_depth", "proxy_ssl_crl", "proxy_ssl_name", "proxy_ssl_server_name",
        "proxy_ssl_protocols", "proxy_ssl_ciphers", "proxy_ssl_conf_command", "proxy_ssl_session_reuse",
        "ssl_certificate", "ssl_certificate_key", "ssl_password_file", "ssl_protocols", "ssl_ciphers",
        "ssl_prefer_server_ciphers", "ssl_ecdh_curve", "ssl_dhparam", "ssl_session_cache", "ssl_session_timeout",
        "ssl_session_tickets", "ssl_session_ticket_key", "ssl_conf_command", "ssl_client_certificate",
        "ssl_trusted_certificate", "ssl_verify_client", "ssl_verify_depth", "ssl_crl", "ssl_handshake_timeout",
        "access_log", "log_format", "map", "set", "return", "ssl_preread", "preread_buffer_size", "preread_timeout",
        "proxy_protocol", "proxy_bind", "proxy_upload_rate", "proxy_download_rate", "error_log",
        // UDP sessions' settings: nothing for TCP in nginx either (listen ... udp is refused).
        "proxy_responses", "proxy_requests"};
    const auto has = [&](const auto& list) { return std::find(std::begin(list), std::end(list), spec.name) != std::end(list); };
    return spec.module.starts_with("ngx_stream") ? has(stream_implemented) : has(implemented);
}

}  // namespace ngxlite::conf
