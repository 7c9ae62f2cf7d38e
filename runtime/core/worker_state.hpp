// One worker thread's state: its config, its connections and stream sessions, their
// timers, and what a graceful stop (QUIT) closes.
#pragma once

#include "runtime/core/active_config.hpp"
#include "runtime/core/log_buffer.hpp"
#include "runtime/io/timed_stream.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

#include <cstddef>
#include <memory>

namespace ngxlite::runtime {

// A stream session as its worker sees it: worker_shutdown_timeout ends it after QUIT, as
// nginx's shutdown timer does.
class ShutdownTarget : public boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
public:
    virtual void shutdown_timeout() = 0;

protected:
    ~ShutdownTarget() = default;
};

// What one worker thread shares with its connections; touched only on that thread.
struct WorkerState {
    std::shared_ptr<const ActiveConfig> config;  // its serving process's, for good
    std::size_t connections = 0;                 // client connections open
    bool stopping = false;                       // QUIT: idle connections close, busy ones finish
    TimerTree timers;                            // its connections' timeouts
    WorkerLogBuffers log_buffers{timers};        // access_log buffer=: this thread's
    // Waiting for a request: kept alive after one (QUIT closes them), or new.
    boost::intrusive::list<TimedStream, boost::intrusive::constant_time_size<false>> idle;
    boost::intrusive::list<TimedStream, boost::intrusive::constant_time_size<false>> fresh;
    boost::asio::steady_timer* shutdown_timer = nullptr;  // worker_shutdown_timeout, while it runs
    boost::intrusive::list<ShutdownTarget, boost::intrusive::constant_time_size<false>> sessions;  // stream sessions

    // QUIT: close kept-alive connections waiting for a request; the rest close after
    // their response (a new one after its first, as nginx).
    void stop();
    // The last connection has gone after QUIT: nothing is left to wait for.
    void wind_down();
    // worker_shutdown_timeout has passed after QUIT: every stream session ends; returns
    // how many.
    std::size_t end_sessions();
};

}  // namespace ngxlite::runtime
