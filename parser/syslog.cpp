#include "parser/syslog.hpp"

#include "parser/ir/url.hpp"

#include <array>
#include <cctype>

namespace ngxlite::conf {

namespace {

constexpr std::array<std::string_view, 24> kFacilities = {
    "kern",  "user",   "mail",   "daemon", "auth",   "intern", "lpr",    "news",   "uucp",   "clock",  "authpriv", "ftp",
    "ntp",   "audit",  "alert",  "cron",   "local0", "local1", "local2", "local3", "local4", "local5", "local6",   "local7"};

// As in nginx.conf ("error", "warn"), not syslog's ("err", "warning").
constexpr std::array<std::string_view, 8> kSeverities = {"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"};

template <std::size_t N>
int index_of(const std::array<std::string_view, N>& names, std::string_view name) {
    for (std::size_t i = 0; i < N; ++i)
        if (names[i] == name) return static_cast<int>(i);
    return -1;
}

// RFC 3164: the TAG is at most 32 alphanumeric characters (nginx also allows '_').
void check_tag(std::string_view tag, const SourceRef& where) {
    if (tag.size() > 32) fail_at(where, "syslog tag length exceeds 32");
    for (char ch : tag) {
        const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (c < '0' || (c > '9' && c < 'a' && c != '_') || c > 'z')
            fail_at(where, "syslog \"tag\" only allows alphanumeric characters and underscore");
    }
}

}  // namespace

ir::SyslogPeer syslog_peer(std::string_view arg, const SourceRef& where) {
    ir::SyslogPeer peer;
    bool server = false, facility = false, severity = false, tag = false;
    std::string_view rest = arg.substr(sizeof("syslog:") - 1);
    for (;;) {
        const std::size_t comma = rest.find(',');
        const std::string_view p = rest.substr(0, comma);
        if (p.starts_with("server=")) {
            if (server) fail_at(where, "duplicate syslog \"server\"");
            ir::UrlOptions o;
            o.default_port = 514;
            const ir::ParsedUrl u = ir::parse_url(p.substr(7), o);
            if (!u.err.empty()) fail_at(where, u.err + " in syslog server \"" + std::string(p.substr(7)) + "\"");
            peer.server = u.addrs.at(0);
            server = true;
        } else if (p.starts_with("facility=")) {
            if (facility) fail_at(where, "duplicate syslog \"facility\"");
            peer.facility = index_of(kFacilities, p.substr(9));
            if (peer.facility < 0) fail_at(where, "unknown syslog facility \"" + std::string(p.substr(9)) + "\"");
            facility = true;
        } else if (p.starts_with("severity=")) {
            if (severity) fail_at(where, "duplicate syslog \"severity\"");
            peer.severity = index_of(kSeverities, p.substr(9));
            if (peer.severity < 0) fail_at(where, "unknown syslog severity \"" + std::string(p.substr(9)) + "\"");
            severity = true;
        } else if (p.starts_with("tag=")) {
            if (tag) fail_at(where, "duplicate syslog \"tag\"");
            check_tag(p.substr(4), where);
            peer.tag = p.substr(4);
            tag = true;
        } else if (p == "nohostname") {
            peer.nohostname = true;
        } else {
            fail_at(where, "unknown syslog parameter \"" + std::string(p) + "\"");
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    if (!server) fail_at(where, "no syslog server specified");
    return peer;
}

}  // namespace ngxlite::conf
