#include "runtime/tls/ocsp.hpp"
#include "runtime/tls/ocsp_request.hpp"

#include "runtime/core/active_config.hpp"
#include "runtime/core/worker_state.hpp"
#include "runtime/core/logs.hpp"
#include "runtime/upstream/resolver.hpp"
#include "runtime/io/timed_stream.hpp"

#include "parser/ir/tls_files.hpp"
#include "parser/ir/url.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include <strings.h>

#include <cstring>
#include <ctime>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace ngxlite::runtime {

namespace {

using ocsp::Answer;
using ocsp::Clock;
using ocsp::Env;
using ocsp::kForever;
using ocsp::log_line;
using ocsp::Query;
using ocsp::request_context;
using ocsp::run_query;
using ocsp::shared_stack;
using ocsp::StackPtr;

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
    ir::UrlOptions o;
    o.uri_part = true;
    o.no_resolve = true;
    o.default_port = 80;
    ir::ParsedUrl u = ir::parse_url(std::string_view(url).substr(7), o);
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
