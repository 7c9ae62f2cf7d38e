// nginx's master process: loads the configuration, binds the listening sockets, writes
// the pid file, and keeps a serving process (serving_process.hpp) running with them;
// answers signals as nginx does: HUP reload, QUIT graceful stop, TERM/INT fast stop,
// USR1 reopen logs.
#pragma once

#include "parser/load.hpp"

namespace ngxlite::runtime {

// Runs the master until stopped; returns the process exit code.
int run_server(const conf::LoadOptions& options);

// ngxlite -s stop|quit|reopen|reload: signals the process named in the pid file.
int send_signal(const conf::LoadOptions& options, const std::string& signal);

}  // namespace ngxlite::runtime
