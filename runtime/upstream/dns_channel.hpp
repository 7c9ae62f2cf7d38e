// One name server of a resolver, reached through c-ares: a channel of its own (so each
// query goes to the server nginx's resolver picks), its UDP and TCP sockets watched by the
// worker's io_context (ares_sock_state_cb, ares_process_fd), its timeouts on the worker's
// timer tree. c-ares matches answers to queries and asks again over TCP when an answer
// comes truncated; what an answer means is the resolver's (resolver.cpp) to read.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/core/net.hpp"
#include "runtime/core/timer_tree.hpp"

#include <ares.h>

#include <map>
#include <memory>
#include <string>

namespace ngxlite::runtime {

class DnsChannel {
public:
    DnsChannel(WorkerExecutor executor, TimerTree& timers, const ir::Endpoint& server);
    // c-ares ends the queries still out (their callbacks get ARES_EDESTRUCTION) and closes
    // its sockets.
    ~DnsChannel();
    DnsChannel(const DnsChannel&) = delete;
    DnsChannel& operator=(const DnsChannel&) = delete;

    // False when c-ares could not make the channel (ares_init_options()): it sends nothing.
    bool ok() const { return ares_ != nullptr; }
    // "127.0.0.1:53", as nginx names a resolver's server.
    const std::string& name() const { return name_; }
    // Sends a DNS message; `answered(arg, status, timeouts, abuf, alen)` runs once with its
    // answer, or with the reason there is none.
    void send(const std::string& query, ares_callback answered, void* arg);

private:
    struct Watch;
    struct Timer final : Timeout {
        Timer(TimerTree& t, DnsChannel& c) : Timeout(t), channel(c) {}
        void expired() override { channel.process(ARES_SOCKET_BAD, ARES_SOCKET_BAD); }
        DnsChannel& channel;
    };

    static void sock_state(void* data, ares_socket_t fd, int readable, int writable);
    void arm(const std::shared_ptr<Watch>& w, int fd);
    void process(ares_socket_t read_fd, ares_socket_t write_fd);
    void update_timer();

    WorkerExecutor executor_;
    ares_channel ares_ = nullptr;
    std::string name_;
    std::map<int, std::shared_ptr<Watch>> watches_;
    Timer timer_;
    bool closing_ = false;  // being destroyed: c-ares' last callbacks arm nothing
};

}  // namespace ngxlite::runtime
