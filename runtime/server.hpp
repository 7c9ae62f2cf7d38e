// The ngxlite process: binds listeners, runs worker threads (one io_context each), and
// answers signals as nginx does: HUP reload, QUIT graceful stop, TERM/INT fast stop,
// USR1 reopen logs.
#pragma once

#include "parser/load.hpp"

namespace ngxlite::runtime {

// Runs until stopped; returns the process exit code.
int run_server(const conf::LoadOptions& options);

// ngxlite -s stop|quit|reopen|reload: signals the process named in the pid file.
int send_signal(const conf::LoadOptions& options, const std::string& signal);

}  // namespace ngxlite::runtime
