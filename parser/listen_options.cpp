// The listening socket's options of `listen`, http's and stream's alike
// (ngx_http_core_listen, ngx_stream_core_listen): rcvbuf=, sndbuf=, so_keepalive=,
// fastopen=, with nginx's checks and messages. The master sets them on the socket.
#include "parser/diagnostics.hpp"
#include "parser/setters.hpp"
#include "parser/values.hpp"

namespace ngxlite::conf {

namespace {

// so_keepalive=on|off|[keepidle]:[keepintvl]:[keepcnt]; false: nginx's "invalid so_keepalive value".
bool so_keepalive(std::string_view v, ir::Listen& l) {
    if (v == "on" || v == "off") {
        l.keepalive = v == "on" ? 1 : 2;
        return true;
    }
    const std::size_t first = v.find(':');
    const std::string_view idle = v.substr(0, first);
    const std::string_view rest = first == std::string_view::npos ? std::string_view() : v.substr(first + 1);
    const std::size_t second = rest.find(':');
    const std::string_view intvl = rest.substr(0, second);
    const std::string_view cnt = second == std::string_view::npos ? std::string_view() : rest.substr(second + 1);
    const auto seconds = [](std::string_view s, int& out) {
        if (s.empty()) return true;
        const auto t = parse_time(s, true);
        if (!t) return false;
        out = static_cast<int>(*t);
        return true;
    };
    if (!seconds(idle, l.keepidle) || !seconds(intvl, l.keepintvl)) return false;
    if (!cnt.empty()) {
        const auto n = parse_number(cnt);
        if (!n) return false;
        l.keepcnt = static_cast<int>(*n);
    }
    if (l.keepidle == 0 && l.keepintvl == 0 && l.keepcnt == 0) return false;
    l.keepalive = 1;
    return true;
}

}  // namespace

bool listen_socket_option(const std::string& a, const SourceRef& where, ir::Listen& l) {
    const std::size_t eq = a.find('=');
    if (eq == std::string::npos) return false;
    const std::string key = a.substr(0, eq);
    const std::string_view value = std::string_view(a).substr(eq + 1);
    if (key == "rcvbuf" || key == "sndbuf") {
        const auto n = parse_size(value);
        if (!n) fail_at(where, "invalid " + key + " \"" + a + "\"");
        (key == "rcvbuf" ? l.rcvbuf : l.sndbuf) = static_cast<int>(*n);
    } else if (key == "fastopen") {
        const auto n = parse_number(value);
        if (!n) fail_at(where, "invalid fastopen \"" + a + "\"");
        l.fastopen = static_cast<int>(*n);
    } else if (key == "so_keepalive") {
        if (!so_keepalive(value, l)) fail_at(where, "invalid so_keepalive value: \"" + std::string(value) + "\"");
    } else {
        return false;
    }
    l.bind = true;
    return true;
}

}  // namespace ngxlite::conf
