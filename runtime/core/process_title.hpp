// Process titles in `ps` as nginx sets them ("ngxlite: master process ARGS",
// "ngxlite: worker process"): the memory of argv, and of the environment after it, is
// written over (nginx's ngx_setproctitle), the environment first copied elsewhere.
#pragma once

#include <string>

namespace ngxlite::runtime {

// In main(), with main's own arguments, before any title is set.
void init_process_title(int argc, char** argv);
// The command line as it was, its arguments joined by spaces.
const std::string& original_command_line();
// "ngxlite: " + `title`, cut to the room argv and the environment had.
void set_process_title(const std::string& title);

}  // namespace ngxlite::runtime
