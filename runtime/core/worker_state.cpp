#include "runtime/core/worker_state.hpp"

#include <vector>

namespace ngxlite::runtime {

void WorkerState::stop() {
    stopping = true;
    for (TimedStream& s : idle) s.close();
    if (connections == 0) wind_down();
}

std::size_t WorkerState::end_sessions() {
    std::vector<ShutdownTarget*> ending;  // each unlinks itself only once its coroutine is done
    for (ShutdownTarget& s : sessions) ending.push_back(&s);
    for (ShutdownTarget* s : ending) s->shutdown_timeout();
    return ending.size();
}

void WorkerState::wind_down() {
    log_buffers.flush_all();  // their flush timers must not keep the worker alive
    if (shutdown_timer) shutdown_timer->cancel();
    timers.stop_waiting();
}

}  // namespace ngxlite::runtime
