// OCSP as nginx 1.22.1 does it (ngx_event_openssl_stapling.c), for the http TLS servers:
//
// - ssl_stapling: each certificate of a server context gets its staple, shared by the
//   worker threads. OpenSSL's status callback (a client that asked, status_request)
//   staples ssl_stapling_file's response, or the last good response fetched from the
//   responder; the first handshake that asks starts the fetch on its worker's io_context,
//   and the response is kept until shortly before its nextUpdate (an error: 5 minutes).
// - ssl_ocsp: after a handshake whose client certificate verified, the client's chain
//   (leaf, or all but the root) is checked with the responders (ssl_ocsp_cache first); the
//   verdict, kept with the SSL, is what $ssl_client_verify and the request's checks read.
//
// One HTTP/1.0 client serves both: a GET of the base64 request, nginx's status line and
// header parsing, the Content-Type check, each address in turn, and OpenSSL's OCSP_*
// calls for the request and the response's verification, with nginx's log lines.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/core/net.hpp"

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace ngxlite::runtime {

struct ActiveConfig;
struct WorkerState;
class ErrorLog;
class TimerTree;

// Called on each worker thread before it serves: stapling's fetches, which a handshake
// starts from inside OpenSSL, run on that thread's io_context.
void attach_ocsp_worker(WorkerState& state, WorkerExecutor executor);

// A server context's OCSP, set up once before workers use it (prepare_server_context):
// the status callback and each certificate's staple (ssl_stapling), and ssl_ocsp's
// settings with its cache (ssl_ocsp_cache, one per zone name, shared by the threads).
void prepare_server_ocsp(const ir::SslServerSettings& settings);

// Where a client's OCSP check runs and logs: its worker, the connection's error log and
// number, and the tail of the connection's own lines (" while SSL handshaking, ...").
struct OcspClientEnv {
    WorkerExecutor executor;
    TimerTree* timers;
    const ActiveConfig* config;
    const ErrorLog* log;
    std::uint64_t connection;
    std::string tail;
};

enum class OcspValidation {
    done,       // checked (or nothing to check): the verdict is kept with the SSL
    failed,     // nginx's NGX_ERROR: the connection closes
    timed_out,  // `deadline` came first: the client timed out
};

// ngx_ssl_ocsp_validate after a successful handshake.
Task<OcspValidation> validate_client_ocsp(SSL* ssl, OcspClientEnv env, std::chrono::steady_clock::time_point deadline);

// Whether the connection's context has ssl_ocsp (validate_client_ocsp has work).
bool wants_client_ocsp(SSL* ssl);

// ngx_ssl_ocsp_get_status: null when the client's certificate passed (or was not
// checked), else nginx's reason ("certificate status request failed", "certificate
// revoked", "certificate status unknown").
const char* ocsp_client_failure(SSL* ssl);

}  // namespace ngxlite::runtime
