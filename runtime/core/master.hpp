// nginx's master process: loads the configuration, binds the listening sockets, writes
// the pid file, and keeps a serving process (serving_process.hpp) running with them;
// answers signals as nginx does: HUP reload, QUIT graceful stop, TERM/INT fast stop,
// USR1 reopen logs.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/core/logs.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ngxlite::runtime {

// One load of the configuration files: the IR (null when the load failed) and what
// loading said, warnings then the error, each as nginx prints it ("[emerg] MESSAGE in
// FILE:LINE").
struct LoadedConfig {
    struct Message {
        LogLevel level = LogLevel::emerg;
        std::string text;
    };
    std::shared_ptr<const ir::Config> config;
    std::vector<Message> messages;
};

// Loads the configuration as the command line names it (the parser, given by the caller):
// at start and at each reload, which reads the files again.
using ConfigLoader = std::function<LoadedConfig()>;

// Runs the master until stopped; returns the process exit code. `startup_error_log`: the
// -e file ("" without -e), where what the first load says goes too, as nginx's ngx_log_init.
int run_server(const ConfigLoader& load, const std::string& startup_error_log);

// ngxlite -s stop|quit|reopen|reload: signals the process named in the pid file.
int send_signal(const ConfigLoader& load, const std::string& signal);

}  // namespace ngxlite::runtime
