#include "runtime/ocsp.hpp"

#include "runtime/active_config.hpp"
#include "runtime/http_session.hpp"
#include "runtime/logs.hpp"
#include "runtime/resolver.hpp"
#include "runtime/text.hpp"
#include "runtime/timed_stream.hpp"

#include "parser/ir/tls_files.hpp"
#include "parser/url.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <strings.h>

#include <cctype>
#include <cstring>
#include <ctime>
#include <limits>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace ngxlite::runtime {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::time_t kForever = std::numeric_limits<std::time_t>::max();  // nginx's NGX_MAX_TIME_T_VALUE
constexpr std::size_t kResponseBuffer = 16384;  // nginx reads the responder's answer into one such buffer

using StackPtr = std::shared_ptr<stack_st_X509>;
StackPtr shared_stack(STACK_OF(X509) * s) {
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
std::string request_context(const Query& q, const std::string& peer) {
    std::string out = " while requesting certificate status, responder: " + q.target.host;
    if (!peer.empty()) out += ", peer: " + peer;
    if (!q.name.empty()) out += ", certificate: \"" + q.name + "\"";
    return out;
}

void log_line(const Env& env, LogLevel level, const std::string& message) { env.log->write(level, message, env.connection); }

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

// The responder's answer as nginx reads it: its status line
// (ngx_ssl_ocsp_parse_status_line), its header lines (ngx_ssl_ocsp_parse_header_line;
// only Content-Type is looked at), then the body up to the close.
class ResponseReader {
public:
    enum class Step { again, error, body };

    std::string data;  // everything received, at most kResponseBuffer bytes
    int code = 0;

    // Goes on with what `data` holds; `error` gets nginx's line on Step::error.
    Step process(std::string& error) {
        if (phase_ == Phase::status) {
            const int rc = status_line();
            if (rc == 0) return Step::again;
            if (rc < 0) {
                error = "OCSP responder sent invalid response";
                return Step::error;
            }
            phase_ = Phase::headers;
        }
        if (phase_ == Phase::headers) {
            for (;;) {
                const int rc = header_line();
                if (rc == 0) return Step::again;
                if (rc < 0) {
                    error = "OCSP responder sent invalid response";
                    return Step::error;
                }
                if (rc == 2) break;
                const std::string_view name(data.data() + name_start_, name_end_ - name_start_);
                const std::string_view value(data.data() + value_start_, value_end_ - value_start_);
                if (name.size() == 12 && ::strncasecmp(name.data(), "Content-Type", 12) == 0 &&
                    (value.size() != 25 || ::strncasecmp(value.data(), "application/ocsp-response", 25) != 0)) {
                    error = "OCSP responder sent invalid \"Content-Type\" header: \"" + std::string(value) + "\"";
                    return Step::error;
                }
            }
            phase_ = Phase::body;
        }
        return Step::body;
    }
    std::string_view body() const { return std::string_view(data).substr(pos_); }

private:
    enum class Phase { status, headers, body } phase_ = Phase::status;
    std::size_t pos_ = 0;
    int state_ = 0;
    int count_ = 0;
    std::size_t name_start_ = 0, name_end_ = 0, value_start_ = 0, value_end_ = 0;

    // 1: done, 0: more is needed, -1: invalid.
    int status_line() {
        enum {
            sw_start = 0,
            sw_H,
            sw_HT,
            sw_HTT,
            sw_HTTP,
            sw_first_major_digit,
            sw_major_digit,
            sw_first_minor_digit,
            sw_minor_digit,
            sw_status,
            sw_space_after_status,
            sw_status_text,
            sw_almost_done
        };
        int state = state_;
        std::size_t p = pos_;
        for (; p < data.size(); ++p) {
            const char ch = data[p];
            switch (state) {
            case sw_start:
                if (ch != 'H') return -1;
                state = sw_H;
                break;
            case sw_H:
                if (ch != 'T') return -1;
                state = sw_HT;
                break;
            case sw_HT:
                if (ch != 'T') return -1;
                state = sw_HTT;
                break;
            case sw_HTT:
                if (ch != 'P') return -1;
                state = sw_HTTP;
                break;
            case sw_HTTP:
                if (ch != '/') return -1;
                state = sw_first_major_digit;
                break;
            case sw_first_major_digit:
                if (ch < '1' || ch > '9') return -1;
                state = sw_major_digit;
                break;
            case sw_major_digit:
                if (ch == '.') {
                    state = sw_first_minor_digit;
                    break;
                }
                if (ch < '0' || ch > '9') return -1;
                break;
            case sw_first_minor_digit:
                if (ch < '0' || ch > '9') return -1;
                state = sw_minor_digit;
                break;
            case sw_minor_digit:
                if (ch == ' ') {
                    state = sw_status;
                    break;
                }
                if (ch < '0' || ch > '9') return -1;
                break;
            case sw_status:
                if (ch == ' ') break;
                if (ch < '0' || ch > '9') return -1;
                code = code * 10 + (ch - '0');
                if (++count_ == 3) state = sw_space_after_status;
                break;
            case sw_space_after_status:
                switch (ch) {
                case ' ':
                case '.':  // IIS may send 403.1, 403.2, etc
                    state = sw_status_text;
                    break;
                case '\r':
                    state = sw_almost_done;
                    break;
                case '\n':
                    goto done;
                default:
                    return -1;
                }
                break;
            case sw_status_text:
                if (ch == '\r') state = sw_almost_done;
                else if (ch == '\n') goto done;
                break;
            case sw_almost_done:
                if (ch != '\n') return -1;
                goto done;
            }
        }
        pos_ = p;
        state_ = state;
        return 0;
    done:
        pos_ = p + 1;
        state_ = 0;
        return 1;
    }

    // 1: a header line, 2: the end of the header, 0: more is needed, -1: invalid.
    int header_line() {
        enum { sw_start = 0, sw_name, sw_space_before_value, sw_value, sw_space_after_value, sw_almost_done, sw_header_almost_done };
        int state = state_;
        std::size_t p = pos_;
        for (; p < data.size(); ++p) {
            const char ch = data[p];
            const char c = static_cast<char>(ch | 0x20);
            switch (state) {
            case sw_start:
                if (ch == '\r') {
                    state = sw_header_almost_done;
                    break;
                }
                if (ch == '\n') goto header_done;
                state = sw_name;
                name_start_ = p;
                if ((c >= 'a' && c <= 'z') || (ch >= '0' && ch <= '9')) break;
                return -1;
            case sw_name:
                if ((c >= 'a' && c <= 'z') || ch == '-' || (ch >= '0' && ch <= '9')) break;
                if (ch == ':') {
                    name_end_ = p;
                    state = sw_space_before_value;
                    break;
                }
                if (ch == '\r' || ch == '\n') {
                    name_end_ = value_start_ = value_end_ = p;
                    if (ch == '\n') goto done;
                    state = sw_almost_done;
                    break;
                }
                return -1;
            case sw_space_before_value:
                if (ch == ' ') break;
                if (ch == '\r' || ch == '\n') {
                    value_start_ = value_end_ = p;
                    if (ch == '\n') goto done;
                    state = sw_almost_done;
                    break;
                }
                value_start_ = p;
                state = sw_value;
                break;
            case sw_value:
                if (ch == ' ') {
                    value_end_ = p;
                    state = sw_space_after_value;
                } else if (ch == '\r') {
                    value_end_ = p;
                    state = sw_almost_done;
                } else if (ch == '\n') {
                    value_end_ = p;
                    goto done;
                }
                break;
            case sw_space_after_value:
                if (ch == ' ') break;
                if (ch == '\r') state = sw_almost_done;
                else if (ch == '\n') goto done;
                else state = sw_value;
                break;
            case sw_almost_done:
                if (ch != '\n') return -1;
                goto done;
            case sw_header_almost_done:
                if (ch != '\n') return -1;
                goto header_done;
            }
        }
        pos_ = p;
        state_ = state;
        return 0;
    done:
        pos_ = p + 1;
        state_ = 0;
        return 1;
    header_done:
        pos_ = p + 1;
        state_ = 0;
        return 2;
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

// ngx_ssl_ocsp_request to ngx_ssl_ocsp_verify: each address in turn until one answers.
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

// --- ssl_ocsp_cache ---------------------------------------------------------------------

// A shared zone's OCSP cache: statuses by certificate (issuer name and key hashes and
// serial), kept until their nextUpdate (an hour without one); when full, the entry stored
// longest ago makes room, as nginx's expire queue.
class OcspCache {
public:
    explicit OcspCache(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

    std::optional<int> lookup(const std::string& key, std::time_t now) {
        std::lock_guard lock(mutex_);
        const auto it = nodes_.find(key);
        if (it == nodes_.end()) return std::nullopt;
        if (it->second.valid > now) return it->second.status;
        order_.erase(it->second.order);
        nodes_.erase(it);
        return std::nullopt;
    }
    void store(const std::string& key, int status, std::time_t valid, std::time_t now) {
        if (valid < now) return;
        if (valid == kForever) valid = now + 3600;
        std::lock_guard lock(mutex_);
        if (const auto it = nodes_.find(key); it != nodes_.end()) {
            order_.erase(it->second.order);
            nodes_.erase(it);
        }
        if (nodes_.size() >= capacity_) {
            nodes_.erase(order_.back());
            order_.pop_back();
        }
        order_.push_front(key);
        nodes_.emplace(key, Node{status, valid, order_.begin()});
    }

private:
    struct Node {
        int status;
        std::time_t valid;
        std::list<std::string>::iterator order;
    };
    std::mutex mutex_;
    std::unordered_map<std::string, Node> nodes_;
    std::list<std::string> order_;  // newest first
    std::size_t capacity_;
};

// One cache per zone name, shared by every server naming it. An entry takes a 256-byte
// slab in nginx's zone: the size gives the count.
std::shared_ptr<OcspCache> cache_for(const std::string& zone, std::int64_t size) {
    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<OcspCache>> caches;
    std::lock_guard lock(mutex);
    std::weak_ptr<OcspCache>& slot = caches[zone];
    if (auto cache = slot.lock()) return cache;
    auto cache = std::make_shared<OcspCache>(static_cast<std::size_t>(size / 256));
    slot = cache;
    return cache;
}

// ngx_ssl_ocsp_create_key: SHA-1 of the issuer's name and key, the serial padded to 20.
std::string cache_key(X509* cert, X509* issuer) {
    unsigned char key[60] = {};
    unsigned int n = 0;
    if (X509_NAME_digest(X509_get_subject_name(issuer), EVP_sha1(), key, &n) == 0) return {};
    if (X509_pubkey_digest(issuer, EVP_sha1(), key + 20, &n) == 0) return {};
    const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
    const int length = ASN1_STRING_length(serial);
    if (length > 20) return {};
    std::memcpy(key + 40, ASN1_STRING_get0_data(serial), static_cast<std::size_t>(length));
    return std::string(reinterpret_cast<const char*>(key), sizeof key);
}

// --- a server context's OCSP ---------------------------------------------------------------

// ngx_ssl_stapling_t: one certificate's staple, shared by the worker threads.
struct Staple {
    std::shared_ptr<x509_st> cert;
    std::shared_ptr<x509_st> issuer;
    StackPtr chain;
    std::shared_ptr<X509_STORE> store;
    std::string name;
    std::optional<ir::OcspResponder> responder;
    bool verify = false;
    int resolver = -1;
    ir::Msec resolver_timeout{30000};

    std::mutex mutex;
    std::string response;     // the staple (DER); empty: none yet
    std::time_t valid = 0;    // stapled until then
    std::time_t refresh = 0;  // fetched again after then
    bool loading = false;     // a fetch is under way
};

// ssl_ocsp's settings (ngx_ssl_ocsp_conf_t).
struct ClientOcsp {
    bool leaf = false;
    std::optional<ir::OcspResponder> responder;
    std::shared_ptr<OcspCache> cache;
    int resolver = -1;
    ir::Msec resolver_timeout{30000};
};

struct ContextOcsp {
    std::vector<std::shared_ptr<Staple>> staples;
    std::optional<ClientOcsp> client;
};

int context_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr,
                                                      [](void*, void* p, CRYPTO_EX_DATA*, int, long, void*) {
                                                          delete static_cast<ContextOcsp*>(p);
                                                      });
    return index;
}

const ContextOcsp* context_ocsp(SSL_CTX* ctx) {
    return ctx ? static_cast<const ContextOcsp*>(SSL_CTX_get_ex_data(ctx, context_index())) : nullptr;
}

// The worker thread this is (attach_ocsp_worker).
thread_local WorkerState* this_worker = nullptr;
thread_local std::optional<WorkerExecutor> this_executor;

// ngx_ssl_stapling_ocsp_handler: a good response is kept until 5 minutes before its
// nextUpdate (at least 5 minutes, at most an hour before the next fetch); an error tries
// again in 5 minutes.
// `config` keeps what `env` names alive meanwhile.
Task<void> refresh_staple(std::shared_ptr<Staple> s, [[maybe_unused]] std::shared_ptr<const ActiveConfig> config, Env env) {
    Query q;
    q.cert = s->cert.get();
    q.issuer = s->issuer.get();
    q.chain = s->chain.get();
    q.store = s->store.get();
    q.flags = s->verify ? OCSP_TRUSTOTHER : OCSP_NOVERIFY;
    q.target = *s->responder;
    if (q.target.uri.empty()) q.target.uri = "/";
    q.resolver = s->resolver;
    q.resolver_timeout = s->resolver_timeout;
    q.name = s->name;
    q.timeout = ir::Msec(60000);
    Answer a = co_await run_query(q, env, Clock::time_point::max());
    const std::time_t now = std::time(nullptr);
    bool good = a.outcome == Answer::Outcome::ok;
    if (good && a.status != V_OCSP_CERTSTATUS_GOOD) {
        log_line(env, LogLevel::error,
                 std::string("certificate status \"") + OCSP_cert_status_str(a.status) + "\" in the OCSP response" +
                     request_context(q, a.peer));
        good = false;
    }
    std::lock_guard lock(s->mutex);
    if (good) {
        s->response = std::move(a.response);
        s->valid = a.valid;
        s->refresh = std::max(std::min(a.valid - 300, now + 3600), now + 300);
    } else {
        s->refresh = now + 300;
    }
    s->loading = false;
}

// ngx_ssl_stapling_update, from a handshake: the fetch runs on this worker's io_context.
void start_refresh(std::shared_ptr<Staple> s) {
    if (!this_worker || !this_executor) {
        std::lock_guard lock(s->mutex);
        s->loading = false;
        return;
    }
    std::shared_ptr<const ActiveConfig> config = this_worker->config;
    const Env env{*this_executor, &this_worker->timers, config.get(), &config->error_log, 0};
    asio::co_spawn(*this_executor, refresh_staple(std::move(s), std::move(config), env), asio::detached);
}

// ngx_ssl_certificate_status_callback: the staple of the certificate the handshake uses,
// if one is held and still valid; a fetch starts when one is due.
int status_callback(SSL* ssl, void*) {
    const ContextOcsp* data = context_ocsp(SSL_get_SSL_CTX(ssl));
    X509* cert = SSL_get_certificate(ssl);
    if (!data || !cert) return SSL_TLSEXT_ERR_NOACK;
    std::shared_ptr<Staple> staple;
    for (const auto& s : data->staples)
        if (s->cert.get() == cert) staple = s;
    if (!staple) return SSL_TLSEXT_ERR_NOACK;
    const std::time_t now = std::time(nullptr);
    std::string copy;
    bool fetch = false;
    {
        std::lock_guard lock(staple->mutex);
        if (!staple->response.empty() && staple->valid >= now) copy = staple->response;
        if (staple->responder && !staple->loading && staple->refresh < now) staple->loading = fetch = true;
    }
    int rc = SSL_TLSEXT_ERR_NOACK;
    if (!copy.empty()) {
        // OpenSSL frees what it is given.
        auto* p = static_cast<unsigned char*>(OPENSSL_malloc(copy.size()));
        if (p) {
            std::memcpy(p, copy.data(), copy.size());
            SSL_set_tlsext_status_ocsp_resp(ssl, p, static_cast<long>(copy.size()));
            rc = SSL_TLSEXT_ERR_OK;
        }
    }
    if (fetch) start_refresh(std::move(staple));
    return rc;
}

// ngx_ssl_ocsp_t's outcome, kept with the connection's SSL.
struct Verdict {
    bool error = false;
    int cert_status = V_OCSP_CERTSTATUS_GOOD;
};

int verdict_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr,
                                                  [](void*, void* p, CRYPTO_EX_DATA*, int, long, void*) {
                                                      delete static_cast<Verdict*>(p);
                                                  });
    return index;
}

// ngx_ssl_ocsp_responder: a client certificate's own OCSP URL (names left to the
// resolver); nullopt after logging why there is none.
std::optional<ir::OcspResponder> certificate_responder(X509* cert, const OcspClientEnv& env) {
    const auto fail = [&](const std::string& message) {
        env.log->write(LogLevel::error, message + env.tail, env.connection);
        return std::nullopt;
    };
    STACK_OF(OPENSSL_STRING)* aia = X509_get1_ocsp(cert);
    const char* first = aia ? sk_OPENSSL_STRING_value(aia, 0) : nullptr;
    const std::string url = first ? first : "";
    X509_email_free(aia);
    if (!first) return fail("no OCSP responder URL in certificate");
    if (url.size() <= 7 || ::strncasecmp(url.c_str(), "http://", 7) != 0)
        return fail("invalid URL prefix in OCSP responder \"" + url + "\" in certificate");
    conf::UrlOptions o;
    o.uri_part = true;
    o.no_resolve = true;
    o.default_port = 80;
    conf::ParsedUrl u = conf::parse_url(std::string_view(url).substr(7), o);
    if (!u.err.empty()) return fail(u.err + " in OCSP responder \"" + url.substr(7) + "\" in certificate");
    if (u.host.empty()) return fail("empty host in OCSP responder in certificate");
    return ir::OcspResponder{std::move(u.host), u.port, std::move(u.uri), std::move(u.addrs)};
}

// The client's chain as verified (SSL_get0_verified_chain), or built again from its
// certificates with the context's store (a resumed session keeps none); null after
// logging why not.
StackPtr client_chain(SSL* ssl, X509* cert, const OcspClientEnv& env) {
    if (STACK_OF(X509)* verified = SSL_get0_verified_chain(ssl)) {
        if (STACK_OF(X509)* copy = X509_chain_up_ref(verified)) return shared_stack(copy);
        return nullptr;
    }
    ERR_clear_error();
    const auto fail = [&](const char* call) {
        env.log->write(LogLevel::error, std::string(call) + " failed" + ir::openssl_errors() + env.tail, env.connection);
        return nullptr;
    };
    X509_STORE* store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl));
    if (!store) return fail("SSL_CTX_get_cert_store()");
    X509_STORE_CTX* store_ctx = X509_STORE_CTX_new();
    if (!store_ctx) return fail("X509_STORE_CTX_new()");
    StackPtr out;
    if (X509_STORE_CTX_init(store_ctx, store, cert, SSL_get_peer_cert_chain(ssl)) == 0) {
        fail("X509_STORE_CTX_init()");
    } else if (X509_verify_cert(store_ctx) <= 0) {
        fail("X509_verify_cert()");
    } else if (STACK_OF(X509)* chain = X509_STORE_CTX_get1_chain(store_ctx)) {
        out = shared_stack(chain);
    } else {
        fail("X509_STORE_CTX_get1_chain()");
    }
    X509_STORE_CTX_free(store_ctx);
    return out;
}

}  // namespace

void attach_ocsp_worker(WorkerState& state, WorkerExecutor executor) {
    this_worker = &state;
    this_executor.emplace(executor);
}

void prepare_server_ocsp(const ir::SslServerSettings& settings) {
    SSL_CTX* ctx = settings.context.get();
    if (!ctx || (!settings.stapling && settings.ocsp == ir::SslServerSettings::Ocsp::off)) return;
    auto data = std::make_unique<ContextOcsp>();
    if (settings.stapling) {
        X509_STORE* store = SSL_CTX_get_cert_store(ctx);
        X509_STORE_up_ref(store);
        const std::shared_ptr<X509_STORE> shared_store(store, X509_STORE_free);
        for (const ir::StapleSource& source : settings.staples) {
            auto s = std::make_shared<Staple>();
            s->cert = source.certificate;
            s->issuer = source.issuer;
            s->chain = source.chain;
            s->store = shared_store;
            s->name = source.name;
            s->responder = source.responder;
            s->verify = settings.stapling_verify;
            s->resolver = settings.resolver;
            s->resolver_timeout = settings.resolver_timeout;
            if (!source.file_response.empty()) {
                s->response = source.file_response;
                s->valid = kForever;
            }
            data->staples.push_back(std::move(s));
        }
        SSL_CTX_set_tlsext_status_cb(ctx, status_callback);
    }
    if (settings.ocsp != ir::SslServerSettings::Ocsp::off) {
        ClientOcsp& c = data->client.emplace();
        c.leaf = settings.ocsp == ir::SslServerSettings::Ocsp::leaf;
        c.responder = settings.ocsp_responder;
        if (!settings.ocsp_cache.empty()) c.cache = cache_for(settings.ocsp_cache, settings.ocsp_cache_size);
        c.resolver = settings.resolver;
        c.resolver_timeout = settings.resolver_timeout;
    }
    delete static_cast<ContextOcsp*>(SSL_CTX_get_ex_data(ctx, context_index()));  // prepared again
    SSL_CTX_set_ex_data(ctx, context_index(), data.release());
}

bool wants_client_ocsp(SSL* ssl) {
    const ContextOcsp* data = context_ocsp(SSL_get_SSL_CTX(ssl));
    return data && data->client;
}

Task<OcspValidation> validate_client_ocsp(SSL* ssl, OcspClientEnv cenv, Clock::time_point deadline) {
    const ContextOcsp* data = context_ocsp(SSL_get_SSL_CTX(ssl));
    if (!data || !data->client) co_return OcspValidation::done;
    if (SSL_get_verify_result(ssl) != X509_V_OK) co_return OcspValidation::done;
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (!cert) co_return OcspValidation::done;
    auto* verdict = new Verdict;
    delete static_cast<Verdict*>(SSL_get_ex_data(ssl, verdict_index()));
    SSL_set_ex_data(ssl, verdict_index(), verdict);  // the SSL owns it
    const StackPtr certs = client_chain(ssl, cert, cenv);
    if (!certs) co_return OcspValidation::failed;
    X509_STORE* store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl));
    const ClientOcsp conf = *data->client;
    const Env env{cenv.executor, cenv.timers, cenv.config, cenv.log, cenv.connection};
    const int n = sk_X509_num(certs.get());
    for (int ncert = 0;;) {
        // ngx_ssl_ocsp_validate_next: all but the root, or the leaf alone.
        if (ncert == n - 1 || (conf.leaf && ncert == 1)) break;
        Query q;
        q.cert = sk_X509_value(certs.get(), ncert);
        q.issuer = sk_X509_value(certs.get(), ncert + 1);
        q.chain = certs.get();
        q.store = store;
        q.resolver = conf.resolver;
        q.resolver_timeout = conf.resolver_timeout;
        if (conf.responder) {
            q.target = *conf.responder;
        } else if (auto own = certificate_responder(q.cert, cenv)) {
            q.target = std::move(*own);
        } else {
            verdict->error = true;
            break;
        }
        if (q.target.uri.empty()) q.target.uri = "/";
        ++ncert;
        std::string key;
        if (conf.cache) {
            key = cache_key(q.cert, q.issuer);
            if (key.empty()) {
                verdict->error = true;
                break;
            }
            if (const auto cached = conf.cache->lookup(key, std::time(nullptr))) {
                if (*cached != V_OCSP_CERTSTATUS_GOOD) {
                    verdict->cert_status = *cached;
                    break;
                }
                continue;
            }
        }
        const Answer a = co_await run_query(q, env, deadline);
        if (a.outcome == Answer::Outcome::timed_out) co_return OcspValidation::timed_out;
        if (a.outcome != Answer::Outcome::ok) {
            verdict->error = true;
            break;
        }
        if (conf.cache) conf.cache->store(key, a.status, a.valid, std::time(nullptr));
        if (a.status != V_OCSP_CERTSTATUS_GOOD) {
            verdict->cert_status = a.status;
            break;
        }
    }
    co_return OcspValidation::done;
}

const char* ocsp_client_failure(SSL* ssl) {
    const auto* v = ssl ? static_cast<const Verdict*>(SSL_get_ex_data(ssl, verdict_index())) : nullptr;
    if (!v) return nullptr;
    if (v->error) return "certificate status request failed";
    switch (v->cert_status) {
    case V_OCSP_CERTSTATUS_GOOD:
        return nullptr;
    case V_OCSP_CERTSTATUS_REVOKED:
        return "certificate revoked";
    default:
        return "certificate status unknown";
    }
}

}  // namespace ngxlite::runtime
