// The "syslog:" arguments of error_log and access_log, as nginx's ngx_syslog_process_conf
// reads them, with its messages.
#pragma once

#include "parser/diagnostics.hpp"
#include "parser/ir/config.hpp"

#include <string_view>

namespace ngxlite::conf {

// `arg` is the whole "syslog:server=ADDR[:PORT][,facility=F][,severity=S][,tag=T][,nohostname]".
ir::SyslogPeer syslog_peer(std::string_view arg, const SourceRef& where);

}  // namespace ngxlite::conf
