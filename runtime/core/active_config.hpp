// A loaded configuration as the runtime uses it: the IR, its logs, and a server
// selector per listening address. The master loads it; a serving process serves one for
// its whole life (a reload starts another serving process).
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/core/logs.hpp"
#include "runtime/http/router.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <map>
#include <memory>

namespace ngxlite::runtime {

struct RequestContext;

// A socket address as the IR names addresses.
ir::Endpoint endpoint_of(const boost::asio::ip::tcp::endpoint& e);

struct ActiveConfig {
    explicit ActiveConfig(std::shared_ptr<const ir::Config> config);

    // The servers of the address a connection arrived on: the exact address, else the
    // wildcard of its port; null when this config does not listen there (after a reload).
    const ServerSelector* find_selector(const ir::Endpoint& local) const;
    // The stream {} server of that address, found the same way, or null.
    const ir::StreamServer* find_stream_server(const ir::Endpoint& local, bool udp = false) const;
    // A log file that would not open: nginx refuses to start (or to reload) then.
    std::optional<std::string> open_error() const;
    void reopen_logs(uid_t owner) const;  // USR1: every error and access log, as ErrorLog::reopen

    // The error log of a context (an IR index, -1: the main one); a request's is its
    // location's, once found, else its server's, as nginx switches c->log.
    const ErrorLog& log(int index) const { return index < 0 ? error_log : *context_logs[static_cast<std::size_t>(index)]; }
    const ErrorLog& log_for(const RequestContext& ctx) const;

    std::shared_ptr<const ir::Config> ir;
    ErrorLog error_log;
    std::vector<std::unique_ptr<ErrorLog>> context_logs;  // ir->context_error_logs, opened
    std::unique_ptr<AccessLogs> access_logs;
    std::map<std::string, ServerSelector> selectors;  // by Endpoint::text()
    std::map<std::string, const ir::StreamServer*> stream_servers;  // by Endpoint::text()
};

}  // namespace ngxlite::runtime
