// nginx's ngx_syslog.c: log lines sent to a syslog server over UDP with an RFC 3164
// header ("<PRI>Mmm dd HH:MM:SS HOST TAG: "), one datagram each.
#pragma once

#include "parser/ir/config.hpp"

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

// Why a line was not sent, as nginx logs it: an alert, or an error for a refused or
// unreachable peer (ngx_connection_error's levels).
struct SyslogFailure {
    bool alert = true;
    std::string text;
};

class SyslogSender {
public:
    // The socket is made here, before the serving process forks, so workers only send.
    explicit SyslogSender(const ir::SyslogPeer& peer);
    ~SyslogSender();
    SyslogSender(const SyslogSender&) = delete;
    SyslogSender& operator=(const SyslogSender&) = delete;

    // `line` without its newline, at `severity` (0 emerg .. 7 debug).
    std::optional<SyslogFailure> send(int severity, std::string_view line) const;
    const ir::SyslogPeer& peer() const { return peer_; }

private:
    ir::SyslogPeer peer_;
    int fd_ = -1;
    std::string open_error_;  // why the socket could not be made
};

// The header nginx's ngx_syslog_add_header writes, with the local time `now`.
std::string syslog_header(const ir::SyslogPeer& peer, int severity, std::time_t now);

}  // namespace ngxlite::runtime
