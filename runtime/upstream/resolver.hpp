// nginx's resolver (ngx_resolver.c) for proxy_pass with variables, http and stream: names
// resolved asynchronously to A (and AAAA unless ipv6=off) addresses, CNAME chains
// followed, answers cached per worker thread as long as their TTL (or valid=) allows,
// each query sent to the next name server in turn and sent again every 5 seconds (to the
// next one) while someone waits, each waiter bounded by resolver_timeout.
//
// c-ares carries the queries: one channel per name server (so the server a query goes
// to is nginx's choice), its UDP and TCP sockets watched by the worker's io_context
// (ares_sock_state_cb, ares_process_fd), its timeouts on the worker's timer tree. It
// matches answers to queries (ids and questions) and asks again over TCP when an answer
// comes truncated; what an answer means, and every error, is read here as nginx reads it.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/core/net.hpp"
#include "runtime/core/timer_tree.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/address.hpp>

#include <memory>
#include <string>
#include <vector>

namespace ngxlite::runtime {

class ErrorLog;

// nginx's ctx->state and ctx->addrs once resolved.
struct ResolveResult {
    int state = 0;  // 0: resolved; 1-5: the DNS rcode (3: no address); 110: timed out; -1: cancelled
    std::vector<boost::asio::ip::address> addrs;  // in nginx's order (rotated when cached)
};

// ngx_resolver_strerror: "Host not found", "Operation timed out", ...
const char* resolver_strerror(int state);

class Resolver {
public:
    using Handler = boost::asio::any_completion_handler<void(ResolveResult)>;

    // `log`: where the resolver's own lines go (nginx's r->log, the main error log).
    Resolver(WorkerExecutor executor, TimerTree& timers, const ir::Resolver& conf, const ErrorLog& log);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // ngx_resolve_name: `handler` runs once (posted to the executor) with the addresses
    // or the error; after `timeout` (0: none) with 110. A name is looked up lowercased,
    // without a trailing dot. Cancelled through the handler's cancellation slot (the
    // client left), it runs with state -1 and the others waiting for the name wait on.
    void resolve(std::string name, ir::Msec timeout, Handler handler);

    template <typename Token>
    auto async_resolve(std::string name, ir::Msec timeout, Token&& token) {
        return boost::asio::async_initiate<Token, void(ResolveResult)>(
            [this](auto handler, std::string n, ir::Msec t) { resolve(std::move(n), t, Handler(std::move(handler))); }, token,
            std::move(name), timeout);
    }

    // QUIT: what is asked still gets its answer; then the sockets close.
    void stop();

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

// This worker thread's resolver for config.resolvers[index] (made on first use; one
// config per serving process, so per thread is per config).
Resolver& worker_resolver(const ir::Config& config, int index, WorkerExecutor executor, TimerTree& timers,
                          const ErrorLog& log);

// QUIT reached this worker thread: every resolver of it stops (Resolver::stop).
void stop_worker_resolvers();

}  // namespace ngxlite::runtime
