#include "runtime/tls/ocsp_request.hpp"

#include "runtime/core/active_config.hpp"
#include "runtime/http/http_parse.hpp"
#include "runtime/upstream/resolver.hpp"
#include "runtime/io/timed_stream.hpp"
#include "runtime/core/text.hpp"

#include "parser/ir/tls_files.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>

#include <arpa/inet.h>

#include <cctype>
#include <optional>

namespace ngxlite::runtime::ocsp {

std::string request_context(const Query& q, const std::string& peer) {
    std::string out = " while requesting certificate status, responder: " + q.target.host;
    if (!peer.empty()) out += ", peer: " + peer;
    if (!q.name.empty()) out += ", certificate: \"" + q.name + "\"";
    return out;
}

namespace {

constexpr std::size_t kResponseBuffer = 16384;  // nginx reads the responder's answer into one such buffer

// ngx_ssl_ocsp_create_request: "GET URI/BASE64 HTTP/1.0" with Host, the base64 escaped as a
// URI component.
std::optional<std::string> make_request(const Query& q, const Env& env) {
    const std::string context = request_context(q, {});
    ERR_clear_error();
    OCSP_REQUEST* request = OCSP_REQUEST_new();
    if (!request) {
        log_line(env, LogLevel::crit, "OCSP_REQUEST_new() failed" + ir::openssl_errors() + context);
        return std::nullopt;
    }
    OCSP_CERTID* id = OCSP_cert_to_id(nullptr, q.cert, q.issuer);
    if (!id) {
        log_line(env, LogLevel::crit, "OCSP_cert_to_id() failed" + ir::openssl_errors() + context);
        OCSP_REQUEST_free(request);
        return std::nullopt;
    }
    if (!OCSP_request_add0_id(request, id)) {
        log_line(env, LogLevel::crit, "OCSP_request_add0_id() failed" + ir::openssl_errors() + context);
        OCSP_CERTID_free(id);
        OCSP_REQUEST_free(request);
        return std::nullopt;
    }
    unsigned char* der = nullptr;
    const int len = i2d_OCSP_REQUEST(request, &der);
    OCSP_REQUEST_free(request);
    if (len <= 0) {
        log_line(env, LogLevel::crit, "i2d_OCSP_REQUEST() failed" + ir::openssl_errors() + context);
        return std::nullopt;
    }
    std::string base64(static_cast<std::size_t>(4 * ((len + 2) / 3)), '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(base64.data()), der, len);
    OPENSSL_free(der);
    const std::string escaped =
        percent_escape(base64, [](unsigned char c) { return !(std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~'); });
    std::string out = "GET " + q.target.uri;
    if (q.target.uri.back() != '/') out += '/';
    out += escaped + " HTTP/1.0\r\nHost: " + q.target.host + "\r\n\r\n";
    return out;
}

// The responder's answer as nginx reads it: its status line, its header lines (only
// Content-Type is looked at), then the body up to the close; nginx's OCSP parsers are
// copies of its http ones, which http_parse.hpp follows.
class ResponseReader {
public:
    enum class Step { again, error, body };

    std::string data;  // everything received, at most kResponseBuffer bytes
    int code = 0;

    // Goes on with what `data` holds; `error` gets nginx's line on Step::error.
    Step process(std::string& error) {
        if (phase_ == Phase::status) {
            StatusLine line;
            const ParseStatus rc = parse_status_line(data, pos_, line);
            if (rc == ParseStatus::again) return Step::again;
            if (rc != ParseStatus::ok) return invalid(error, "OCSP responder sent invalid response");
            code = line.code;
            phase_ = Phase::headers;
        }
        while (phase_ == Phase::headers) {
            HeaderLine header;
            const ParseStatus rc = parse_response_header_line(data, pos_, header);
            if (rc == ParseStatus::again) return Step::again;
            if (rc == ParseStatus::header_done) break;
            if (rc != ParseStatus::ok) return invalid(error, "OCSP responder sent invalid response");
            if (iequal(header.name, "Content-Type") && !iequal(header.value, "application/ocsp-response"))
                return invalid(error, "OCSP responder sent invalid \"Content-Type\" header: \"" + std::string(header.value) + "\"");
        }
        phase_ = Phase::body;
        return Step::body;
    }
    std::string_view body() const { return std::string_view(data).substr(pos_); }

private:
    enum class Phase { status, headers, body } phase_ = Phase::status;
    std::size_t pos_ = 0;

    static Step invalid(std::string& error, std::string line) {
        error = std::move(line);
        return Step::error;
    }
};

// ngx_ssl_stapling_time: an ASN1 time as seconds since the epoch, -1 when unreadable.
std::time_t asn1_seconds(const ASN1_GENERALIZEDTIME* t) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(t, &tm) != 1) return -1;
    return ::timegm(&tm);
}

// ngx_ssl_ocsp_verify: the response's status for the certificate and how long it holds;
// false (logged) when it is not to be trusted.
bool verify_response(const Query& q, int code, std::string_view body, Answer& a, const Env& env, const std::string& context) {
    if (code != 200) return false;
    ERR_clear_error();
    const auto* p = reinterpret_cast<const unsigned char*>(body.data());
    OCSP_RESPONSE* ocsp = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(body.size()));
    OCSP_BASICRESP* basic = nullptr;
    OCSP_CERTID* id = nullptr;
    const auto fail = [&](LogLevel level, const std::string& message) {
        log_line(env, level, message + context);
        if (id) OCSP_CERTID_free(id);
        if (basic) OCSP_BASICRESP_free(basic);
        if (ocsp) OCSP_RESPONSE_free(ocsp);
        return false;
    };
    if (!ocsp) return fail(LogLevel::error, "d2i_OCSP_RESPONSE() failed" + ir::openssl_errors());
    const int n = OCSP_response_status(ocsp);
    if (n != OCSP_RESPONSE_STATUS_SUCCESSFUL)
        return fail(LogLevel::error,
                    "OCSP response not successful (" + std::to_string(n) + ": " + OCSP_response_status_str(n) + ")");
    basic = OCSP_response_get1_basic(ocsp);
    if (!basic) return fail(LogLevel::error, "OCSP_response_get1_basic() failed" + ir::openssl_errors());
    if (OCSP_basic_verify(basic, q.chain, q.store, q.flags) != 1)
        return fail(LogLevel::error, "OCSP_basic_verify() failed" + ir::openssl_errors());
    id = OCSP_cert_to_id(nullptr, q.cert, q.issuer);
    if (!id) return fail(LogLevel::crit, "OCSP_cert_to_id() failed" + ir::openssl_errors());
    ASN1_GENERALIZEDTIME* this_update = nullptr;
    ASN1_GENERALIZEDTIME* next_update = nullptr;
    if (OCSP_resp_find_status(basic, id, &a.status, nullptr, nullptr, &this_update, &next_update) != 1)
        return fail(LogLevel::error, "certificate status not found in the OCSP response");
    if (OCSP_check_validity(this_update, next_update, 300, -1) != 1)
        return fail(LogLevel::error, "OCSP_check_validity() failed" + ir::openssl_errors());
    if (next_update) {
        a.valid = asn1_seconds(next_update);
        if (a.valid == -1) return fail(LogLevel::error, "invalid nextUpdate time in certificate status");
    } else {
        a.valid = kForever;
    }
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(ocsp);
    a.response = std::string(body);
    return true;
}

// ngx_ssl_ocsp_request's resolution: an IPv4 address is used as it is; a name goes to the
// server's resolver, else to the addresses it had at load time (with a warning), else the
// request fails.
Task<std::optional<std::vector<ir::Endpoint>>> responder_addresses(const Query& q, const Env& env) {
    const std::string& host = q.target.host;
    in_addr a4{};
    if (::inet_pton(AF_INET, host.c_str(), &a4) == 1) co_return std::vector<ir::Endpoint>{{host, q.target.port, false}};
    const std::string context = request_context(q, {});
    if (q.resolver >= 0) {
        Resolver& resolver = worker_resolver(*env.config->ir, q.resolver, env.executor, *env.timers, env.config->error_log);
        const ResolveResult resolved =
            co_await resolver.async_resolve(host, q.resolver_timeout, asio::use_awaitable_t<WorkerExecutor>{});
        if (resolved.state) {
            log_line(env, LogLevel::error,
                     host + " could not be resolved (" + std::to_string(resolved.state) + ": " + resolver_strerror(resolved.state) + ")" +
                         context);
            co_return std::nullopt;
        }
        std::vector<ir::Endpoint> out;
        for (const auto& a : resolved.addrs) out.push_back({a.to_string(), q.target.port, a.is_v6()});
        co_return out;
    }
    if (q.target.addrs.empty()) {
        log_line(env, LogLevel::error, "no resolver defined to resolve " + host + context);
        co_return std::nullopt;
    }
    log_line(env, LogLevel::warn, "no resolver defined to resolve " + host + context);
    co_return q.target.addrs;
}

// What a timer that closes the socket knows, alive as long as its wait.
struct Watch {
    WorkerSocket* socket;
    bool fired = false;
};

enum class Attempt { answered, next, timed_out };

// One address (ngx_ssl_ocsp_connect, the write and read handlers): the request sent, the
// answer read to the end. `answered` with `a` filled (ok or failed); `next` after a
// failure logged; `timed_out` when the client's deadline came.
Task<Attempt> ask_peer(const Query& q, const Env& env, const ir::Endpoint& peer_address, const std::string& request,
                       Clock::time_point client_deadline, Answer& a) {
    const std::string peer = peer_address.text();
    const std::string context = request_context(q, peer);
    WorkerSocket socket(env.executor);
    asio::steady_timer timer(env.executor);
    const auto watch = std::make_shared<Watch>(Watch{&socket});
    struct Unwatch {
        Watch& w;
        ~Unwatch() { w.socket = nullptr; }
    } unwatch{*watch};
    const Clock::time_point peer_deadline = q.timeout.count() > 0 ? Clock::now() + q.timeout : Clock::time_point::max();
    const Clock::time_point deadline = std::min(peer_deadline, client_deadline);
    if (deadline != Clock::time_point::max()) {
        timer.expires_at(deadline);
        timer.async_wait([watch](const boost::system::error_code& ec) {
            if (ec || !watch->socket) return;
            watch->fired = true;
            boost::system::error_code ignored;
            watch->socket->close(ignored);
        });
    }
    // The time ran out: the client's, or this address's ("OCSP responder timed out").
    const auto timed_out = [&]() -> Attempt {
        if (Clock::now() >= client_deadline) return Attempt::timed_out;
        log_line(env, LogLevel::error, "OCSP responder timed out (110: Connection timed out)" + context);
        return Attempt::next;
    };
    boost::system::error_code ec;
    if (peer_address.unix_socket) {
        log_line(env, LogLevel::error, system_error_text("connect() to " + peer, EAFNOSUPPORT) + context);
        co_return Attempt::next;
    }
    const asio::ip::address ip = asio::ip::make_address(peer_address.ip, ec);
    if (ec) {
        log_line(env, LogLevel::error, system_error_text("connect() to " + peer, EINVAL) + context);
        co_return Attempt::next;
    }
    auto [cec] = co_await socket.async_connect(tcp::endpoint(ip, peer_address.port), use_tuple);
    if (watch->fired) co_return timed_out();
    if (cec) {
        log_line(env, LogLevel::error, system_error_text("connect() to " + peer, cec.value()) + context);
        co_return Attempt::next;
    }
    auto [wec, written] = co_await asio::async_write(socket, asio::buffer(request), use_tuple);
    if (watch->fired) co_return timed_out();
    if (wec) {
        log_line(env, LogLevel::error, system_error_text("send()", wec.value()) + context);
        co_return Attempt::next;
    }
    ResponseReader reader;
    reader.data.reserve(kResponseBuffer);
    std::string error;
    char chunk[4096];
    while (reader.data.size() < kResponseBuffer) {
        const std::size_t room = std::min(sizeof chunk, kResponseBuffer - reader.data.size());
        auto [rec, n] = co_await socket.async_read_some(asio::buffer(chunk, room), use_tuple);
        if (watch->fired) co_return timed_out();
        if (n > 0) {
            reader.data.append(chunk, n);
            if (reader.process(error) == ResponseReader::Step::error) {
                log_line(env, LogLevel::error, error + context);
                co_return Attempt::next;
            }
            continue;
        }
        if (rec && rec != asio::error::eof)  // nginx's recv() error ends the reading as the close does
            log_line(env, LogLevel::error, system_error_text("recv()", rec.value()) + context);
        break;
    }
    const ResponseReader::Step step = reader.process(error);
    if (step == ResponseReader::Step::error) {
        log_line(env, LogLevel::error, error + context);
        co_return Attempt::next;
    }
    if (step != ResponseReader::Step::body) {
        log_line(env, LogLevel::error, "OCSP responder prematurely closed connection" + context);
        co_return Attempt::next;
    }
    a.peer = peer;
    a.outcome = verify_response(q, reader.code, reader.body(), a, env, context) ? Answer::Outcome::ok : Answer::Outcome::failed;
    co_return Attempt::answered;
}

}  // namespace

Task<Answer> run_query(const Query& q, const Env& env, Clock::time_point client_deadline) {
    Answer a;
    const std::optional<std::string> request = make_request(q, env);
    if (!request) co_return a;
    const auto addresses = co_await responder_addresses(q, env);
    if (!addresses) co_return a;
    for (const ir::Endpoint& peer : *addresses) {
        const Attempt attempt = co_await ask_peer(q, env, peer, *request, client_deadline, a);
        if (attempt == Attempt::answered) co_return a;
        if (attempt == Attempt::timed_out) {
            a.outcome = Answer::Outcome::timed_out;
            co_return a;
        }
    }
    co_return a;  // every address failed
}

}  // namespace ngxlite::runtime::ocsp
