// The serving process, nginx's worker process: forked by the master with everything
// loaded (certificates, log files, listening sockets), it gives up root for good, then
// runs the worker threads (one io_context each) until the master tells it to stop.
#pragma once

#include "runtime/core/active_config.hpp"

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>

namespace ngxlite::runtime {

// A listening socket the master bound, by Endpoint::text().
struct Listener {
    ir::Listen listen;
    int fd = -1;
};
using Listeners = std::map<std::string, Listener>;

// Who the serving process becomes when the master runs as root (`user`); nobody else
// can change users, and then nothing changes.
struct ServingUser {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    bool switch_to = false;

    static ServingUser of(const ir::Config& cfg);
};

// What the master hands a serving process: all of it made (as root) before the fork.
struct ServingSetup {
    std::shared_ptr<const ActiveConfig> config;
    const Listeners* listeners = nullptr;
    ServingUser user;
    // nginx's connection numbers ("*N") go on across serving processes: the counter is
    // in memory the master shares with them all, as nginx's ngx_connection_counter.
    std::atomic<std::uint64_t>* connection_numbers = nullptr;
};

// Memory for ServingSetup::connection_numbers, shared with every process forked later.
std::atomic<std::uint64_t>* shared_connection_counter();

// In the forked child, with the master's signal mask (its signals blocked): serves until
// QUIT (graceful), TERM or INT (fast); returns the exit status (2: it cannot run, and
// the master must not start it again).
int run_serving_process(const ServingSetup& setup);

}  // namespace ngxlite::runtime
