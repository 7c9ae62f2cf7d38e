#include "runtime/stream/stream_log.hpp"

#include <string>

namespace ngxlite::runtime {

void log_client_connected(const ErrorLog& log, const ConnectionInfo& conn, const ir::Endpoint& listen, bool udp) {
    if (!log.wants(LogLevel::info)) return;
    const ir::Endpoint client{conn.remote_addr, conn.remote_port, conn.remote_addr.find(':') != std::string::npos};
    // The connection's number is in the message: nginx writes it before the log knows it.
    log.write(LogLevel::info, "*" + std::to_string(conn.id) + (udp ? " udp" : "") + " client " + client.text() +
                                  " connected to " + listen.text());
}

void log_proxy_connected(const ErrorLog& log, std::uint64_t connection, const ir::Endpoint& local, std::string_view peer,
                         bool udp) {
    if (!log.wants(LogLevel::info)) return;
    log.write(LogLevel::info, std::string(udp ? "udp " : "") + "proxy " + local.text() + " connected to " + std::string(peer),
              connection);
}

void log_disconnected(const ErrorLog& log, std::uint64_t connection, bool from_upstream, const SessionBytes& bytes) {
    if (!log.wants(LogLevel::info)) return;
    log.write(LogLevel::info, std::string(from_upstream ? "upstream" : "client") + " disconnected, bytes from/to client:" +
                                  std::to_string(bytes.from_client) + "/" + std::to_string(bytes.to_client) +
                                  ", bytes from/to upstream:" + std::to_string(bytes.from_upstream) + "/" +
                                  std::to_string(bytes.to_upstream),
              connection);
}

}  // namespace ngxlite::runtime
