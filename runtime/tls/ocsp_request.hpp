// One OCSP request as nginx makes it (ngx_event_openssl_stapling.c's ngx_ssl_ocsp_*): a
// GET of the base64 request over HTTP/1.0 to each of the responder's addresses in turn,
// the answer read with nginx's checks and verified with OpenSSL's OCSP_* calls, every
// line nginx logs. Stapling and ssl_ocsp (ocsp.cpp) both run their requests through it.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/core/logs.hpp"
#include "runtime/core/net.hpp"

#include <openssl/ocsp.h>

#include <chrono>
#include <ctime>
#include <limits>
#include <memory>
#include <string>

namespace ngxlite::runtime {

struct ActiveConfig;
class TimerTree;

namespace ocsp {

using Clock = std::chrono::steady_clock;
constexpr std::time_t kForever = std::numeric_limits<std::time_t>::max();  // nginx's NGX_MAX_TIME_T_VALUE

using StackPtr = std::shared_ptr<stack_st_X509>;
inline StackPtr shared_stack(STACK_OF(X509) * s) {
    return StackPtr(s, [](STACK_OF(X509) * c) { sk_X509_pop_free(c, X509_free); });
}

// Where one OCSP request runs and logs.
struct Env {
    WorkerExecutor executor;
    TimerTree* timers;
    const ActiveConfig* config;
    const ErrorLog* log;
    std::uint64_t connection;  // *N in the lines (0: none, as nginx's cycle log)
};

// One request to a responder about one certificate (nginx's ngx_ssl_ocsp_ctx_t). The
// certificates and the store are kept alive by whoever runs it.
struct Query {
    X509* cert = nullptr;
    X509* issuer = nullptr;
    STACK_OF(X509) * chain = nullptr;  // OCSP_basic_verify's untrusted certificates
    X509_STORE* store = nullptr;
    unsigned long flags = 0;
    ir::OcspResponder target;
    int resolver = -1;
    ir::Msec resolver_timeout{30000};
    std::string name;     // the certificate's file ("" for a client's)
    ir::Msec timeout{0};  // per address (0: none)
};

struct Answer {
    enum class Outcome { ok, failed, timed_out } outcome = Outcome::failed;
    int status = V_OCSP_CERTSTATUS_UNKNOWN;
    std::time_t valid = 0;
    std::string response;  // DER, as received
    std::string peer;      // the address that answered
};


// ngx_ssl_ocsp_log_error: the tail of every line about a request.
std::string request_context(const Query& q, const std::string& peer);

inline void log_line(const Env& env, LogLevel level, const std::string& message) {
    env.log->write(level, message, env.connection);
}

// ngx_ssl_ocsp_request to ngx_ssl_ocsp_verify: each address in turn until one answers,
// or `client_deadline` (a client's check) comes.
Task<Answer> run_query(const Query& q, const Env& env, Clock::time_point client_deadline);

}  // namespace ocsp
}  // namespace ngxlite::runtime
