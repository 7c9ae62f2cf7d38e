// Unix-domain sockets where nginx uses them: `listen unix:PATH`, a unix peer's name, and
// connects to `unix:PATH` upstreams. On the data path they travel in the same
// tcp::socket as TCP connections (only their addresses differ; reads, writes, splice and
// TLS are the descriptor's), so only addressing is done here.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/io/timed_stream.hpp"

#include <boost/system/error_code.hpp>

#include <sys/un.h>

#include <string>

namespace ngxlite::runtime {

// PATH as a socket address; false when it does not fit (the parser refused such a path).
bool unix_address(const std::string& path, sockaddr_un& out);

// What ngx_open_listening_sockets does to a unix socket it bound: anyone may connect
// (the directory's permissions still apply). nginx's error text, or "".
std::string open_unix_socket_file(const std::string& path);

// ngx_sock_ntop of an accepted connection's peer: "unix:" for an unnamed one (a client
// that did not bind), "unix:PATH" for a bound one.
std::string unix_peer_text(int fd);

// `socket` (closed) opened as a non-blocking unix socket and connected to PATH: a unix
// connect() completes or fails at once (a full listen queue is EAGAIN, as nginx takes it).
boost::system::error_code connect_unix(WorkerSocket& socket, const std::string& path);

// nginx's level for a failed connect(): ECONNREFUSED, and EAGAIN from a full unix queue,
// are errors; anything else (ENOENT, EACCES) is critical.
bool connect_failure_is_critical(int error);

}  // namespace ngxlite::runtime
