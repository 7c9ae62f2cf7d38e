#include "runtime/upstream/resolver.hpp"

#include "runtime/upstream/dns_channel.hpp"
#include "runtime/upstream/dns_message.hpp"
#include "runtime/core/logs.hpp"

#include <ares.h>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <ctime>
#include <list>
#include <random>
#include <unordered_map>
#include <unordered_set>

namespace ngxlite::runtime {

namespace {

constexpr int kTimedOut = 110;  // NGX_RESOLVE_TIMEDOUT (NGX_ETIMEDOUT)

constexpr int kMaxRecursion = 50;                  // NGX_RESOLVER_MAX_RECURSION
constexpr auto kResendTimeout = std::chrono::seconds(5);  // r->resend_timeout
constexpr std::time_t kExpire = 30;                // r->expire: an unused answer is dropped after it
std::uint32_t random_number() {
    thread_local std::minstd_rand rng{std::random_device{}()};
    return static_cast<std::uint32_t>(rng());
}

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

const char* resolver_strerror(int state) {
    static const char* const errors[] = {"Format error", "Server failure", "Host not found", "Unimplemented",
                                         "Operation refused"};
    if (state > 0 && state < 6) return errors[state - 1];
    if (state == kTimedOut) return "Operation timed out";
    return "Unknown error";
}

struct Resolver::Impl {
    struct Node;

    // A name being resolved for one request or session (nginx's ngx_resolver_ctx_t): its
    // resolver_timeout is a node of the worker's timer tree.
    struct Waiter final : Timeout {
        Waiter(Impl& r, std::string n, ir::Msec t, Handler h)
            : Timeout(r.timers), impl(r), name(std::move(n)), timeout(t), handler(std::move(h)) {}
        void expired() override { impl.timed_out(*this); }
        Impl& impl;
        std::string name;
        ir::Msec timeout;
        Handler handler;
        Node* node = nullptr;
        int recursion = 0;
        bool timer_set = false;
    };

    // One name (nginx's ngx_resolver_node_t): its queries while they are out, then its
    // answer (addresses or a CNAME) until it is no longer valid.
    struct Node {
        std::string name;
        std::vector<boost::asio::ip::address_v4> addrs;
        std::vector<boost::asio::ip::address_v6> addrs6;
        bool a_pending = false;     // nginx's naddrs == (u_short) -1
        bool aaaa_pending = false;  // naddrs6 == (u_short) -1
        bool querying = false;      // rn->query: asked, not yet answered
        bool ask_aaaa = false;      // rn->query6
        std::string query_a, query_aaaa;
        std::string cname;
        std::time_t valid = 0;
        std::time_t expire = 0;
        std::chrono::steady_clock::time_point resend_at;
        std::uint32_t ttl = 0xffffffffu;
        int code = 0;
        std::size_t last_connection = 0;
        std::uint64_t generation = 0;  // answers to an earlier round of queries are not this one's
        std::list<Waiter*> waiting;
        std::list<Node*>* queue = nullptr;  // the resend or the expire queue, most recent first
        std::list<Node*>::iterator in_queue;
    };

    // A query c-ares carries: what its answer is for.
    struct Sent {
        Impl* impl;
        std::string name;
        unsigned qtype;
        std::uint64_t generation;
        std::size_t server;
    };

    // nginx's resend event: one timer for every name whose queries are out.
    struct ResendTimer final : Timeout {
        ResendTimer(TimerTree& t, Impl& r) : Timeout(t), impl(r) {}
        void expired() override { impl.resend(); }
        Impl& impl;
    };

    Impl(WorkerExecutor ex, TimerTree& t, const ir::Resolver& c, const ErrorLog& l)
        : executor(ex), timers(t), conf(c), log_(l), resend_timer(t, *this) {
        for (const ir::Endpoint& server : conf.servers) {
            channels.push_back(std::make_unique<DnsChannel>(executor, timers, server));
            if (!channels.back()->ok()) log("ares_init_options() failed for resolver " + channels.back()->name());
        }
    }

    ~Impl() {
        destroying = true;
        resend_timer.disarm();
        channels.clear();  // c-ares ends its queries (ARES_EDESTRUCTION) and closes its sockets
        for (Waiter* w : waiters) {  // their handlers are dropped, not called
            auto slot = boost::asio::get_associated_cancellation_slot(w->handler);
            if (slot.is_connected()) slot.clear();
            delete w;
        }
        waiters.clear();
    }

    void log(const std::string& what) const { log_.write(LogLevel::error, what); }

    // --- queues -----------------------------------------------------------------------------

    void unqueue(Node& rn) {
        if (rn.queue) rn.queue->erase(rn.in_queue);
        rn.queue = nullptr;
    }
    void queue_head(Node& rn, std::list<Node*>& q) {
        unqueue(rn);
        q.push_front(&rn);
        rn.queue = &q;
        rn.in_queue = q.begin();
    }
    void drop(Node& rn) {
        unqueue(rn);
        nodes.erase(rn.name);
    }

    // ngx_resolver_expire: at most two unused answers go each time a waiter is done.
    void expire() {
        const std::time_t now = std::time(nullptr);
        for (int i = 0; i < 2 && !expire_queue.empty(); ++i) {
            Node* rn = expire_queue.back();
            if (now <= rn->expire) return;
            drop(*rn);
        }
    }

    // --- waiters ----------------------------------------------------------------------------

    void set_timeout(Waiter& w) {
        if (w.timer_set || w.timeout.count() == 0) return;
        w.timer_set = true;
        w.arm(w.timeout);
    }

    // ctx->handler, then ngx_resolve_name_done.
    void finish(Waiter* w, ResolveResult result, bool cancelled = false) {
        w->disarm();
        waiters.erase(w);
        if (!cancelled) {  // its cancellation handler refers to the waiter
            auto slot = boost::asio::get_associated_cancellation_slot(w->handler);
            if (slot.is_connected()) slot.clear();
        }
        boost::asio::post(executor, [h = std::move(w->handler), r = std::move(result)]() mutable { std::move(h)(std::move(r)); });
        delete w;
        expire();
        if (resend_queue.empty()) resend_timer.disarm();
        if (stopping && waiters.empty()) shut_down_later();
    }

    // The worker is quitting (QUIT): once nobody waits, the sockets, queries and timers go,
    // so its io_context can run dry, as nginx's resolver events do not keep a worker alive.
    void stop() {
        stopping = true;
        if (waiters.empty()) shut_down_later();
    }
    void shut_down_later() {
        if (shut_down_posted) return;
        shut_down_posted = true;  // not from inside a c-ares callback
        boost::asio::post(executor, [this] {
            if (!waiters.empty()) {  // one more came meanwhile: its finish posts this again
                shut_down_posted = false;
                return;
            }
            destroying = true;
            resend_timer.disarm();
            channels.clear();
            resend_queue.clear();
            expire_queue.clear();
            nodes.clear();
        });
    }

    // The request or session went away first (ngx_resolve_name_done while waiting): the
    // name is still asked for whoever else waits, and sent again while anyone does.
    void cancel(Waiter* w) {
        if (!waiters.count(w)) return;
        if (w->node) w->node->waiting.remove(w);
        w->node = nullptr;
        finish(w, ResolveResult{-1, {}}, true);
    }

    void timed_out(Waiter& w) {
        if (w.node) w.node->waiting.remove(&w);
        w.node = nullptr;
        finish(&w, ResolveResult{kTimedOut, {}});
    }

    void finish_all(std::vector<Waiter*> ws, int state, const std::vector<boost::asio::ip::address>& addrs) {
        for (Waiter* w : ws) {
            w->node = nullptr;
            finish(w, ResolveResult{state, addrs});
        }
    }

    std::vector<Waiter*> take_waiting(Node& rn) {
        std::vector<Waiter*> ws(rn.waiting.begin(), rn.waiting.end());
        rn.waiting.clear();
        return ws;
    }

    // ngx_resolver_export: IPv4 first then IPv6, from a random place of each when rotated.
    static std::vector<boost::asio::ip::address> export_addrs(const Node& rn, bool rotate) {
        const std::size_t n = rn.addrs.size() + rn.addrs6.size();
        std::vector<boost::asio::ip::address> dst(n);
        std::size_t i = 0;
        std::size_t d = rotate ? random_number() % n : 0;
        if (!rn.addrs.empty()) {
            std::size_t j = rotate ? random_number() % rn.addrs.size() : 0;
            do {
                dst[d++] = rn.addrs[j++];
                if (d == n) d = 0;
                if (j == rn.addrs.size()) j = 0;
            } while (++i < rn.addrs.size());
        }
        if (!rn.addrs6.empty()) {
            std::size_t j = rotate ? random_number() % rn.addrs6.size() : 0;
            do {
                dst[d++] = rn.addrs6[j++];
                if (d == n) d = 0;
                if (j == rn.addrs6.size()) j = 0;
            } while (++i < n);
        }
        return dst;
    }

    // --- resolving --------------------------------------------------------------------------

    void send_query(Node& rn) {
        DnsChannel& c = *channels[rn.last_connection];
        if (!c.ok()) return;
        if (rn.a_pending) c.send(rn.query_a, &Impl::answered, new Sent{this, rn.name, dns::kTypeA, rn.generation, rn.last_connection});
        if (rn.ask_aaaa && rn.aaaa_pending)
            c.send(rn.query_aaaa, &Impl::answered, new Sent{this, rn.name, dns::kTypeAaaa, rn.generation, rn.last_connection});
    }

    void resolve(std::string name, ir::Msec timeout, Handler handler) {
        if (destroying) {
            boost::asio::post(executor, [h = std::move(handler)]() mutable { std::move(h)(ResolveResult{kTimedOut, {}}); });
            return;
        }
        if (!name.empty() && name.back() == '.') name.pop_back();
        auto* w = new Waiter(*this, std::move(name), timeout, std::move(handler));
        waiters.insert(w);
        auto slot = boost::asio::get_associated_cancellation_slot(w->handler);
        if (slot.is_connected()) slot.assign([this, w](boost::asio::cancellation_type) { cancel(w); });
        resolve_locked({w}, w->name);
    }

    // ngx_resolve_name_locked: `ws` wait for `name` (the asked name, or a CNAME's target).
    void resolve_locked(std::vector<Waiter*> ws, std::string name) {
        name = lowercase(name);
        const std::time_t now = std::time(nullptr);
        auto found = nodes.find(name);
        Node* rn = found == nodes.end() ? nullptr : found->second.get();
        if (rn) {
            if (rn->valid >= now) {
                queue_head(*rn, expire_queue);
                rn->expire = now + kExpire;
                for (Waiter* w : take_waiting(*rn)) ws.push_back(w);
                if (!rn->addrs.empty() || !rn->addrs6.empty()) {
                    finish_all(std::move(ws), 0, export_addrs(*rn, true));
                    return;
                }
                if (ws.front()->recursion++ < kMaxRecursion) {
                    resolve_locked(std::move(ws), rn->cname);
                    return;
                }
                finish_all(std::move(ws), dns::kNxDomain, {});
                return;
            }
            if (!rn->waiting.empty()) {
                for (Waiter* w : ws) {
                    set_timeout(*w);
                    w->node = rn;
                    rn->waiting.push_back(w);
                }
                return;
            }
            unqueue(*rn);
            rn->addrs.clear();
            rn->addrs6.clear();
            rn->cname.clear();
        } else {
            auto node = std::make_unique<Node>();
            node->name = name;
            rn = node.get();
            nodes.emplace(name, std::move(node));
        }
        rn->ask_aaaa = conf.ipv6;
        if (!dns::make_query(name, dns::kTypeA, rn->query_a) || (conf.ipv6 && !dns::make_query(name, dns::kTypeAaaa, rn->query_aaaa))) {
            drop(*rn);
            finish_all(std::move(ws), dns::kNxDomain, {});
            return;
        }
        rn->last_connection = last_connection++;
        if (last_connection == channels.size()) last_connection = 0;
        rn->a_pending = true;
        rn->aaaa_pending = conf.ipv6;
        rn->querying = true;
        ++rn->generation;
        rn->code = 0;
        rn->valid = 0;
        rn->ttl = 0xffffffffu;
        send_query(*rn);
        for (Waiter* w : ws) set_timeout(*w);
        if (resend_queue.empty()) resend_timer.arm(kResendTimeout);
        rn->resend_at = std::chrono::steady_clock::now() + kResendTimeout;
        queue_head(*rn, resend_queue);
        for (Waiter* w : ws) {
            w->node = rn;
            rn->waiting.push_back(w);
        }
    }

    // ngx_resolver_resend_handler: a name still waited for goes to the next name server;
    // one nobody waits for any more is dropped.
    void resend() {
        const auto now = std::chrono::steady_clock::now();
        while (!resend_queue.empty()) {
            Node* rn = resend_queue.back();
            if (now < rn->resend_at) {
                resend_timer.arm(rn->resend_at - now);
                return;
            }
            unqueue(*rn);
            if (!rn->waiting.empty()) {
                if (++rn->last_connection == channels.size()) rn->last_connection = 0;
                send_query(*rn);
                rn->resend_at = now + kResendTimeout;
                queue_head(*rn, resend_queue);
                continue;
            }
            nodes.erase(rn->name);
        }
    }

    // --- answers ----------------------------------------------------------------------------

    static void answered(void* arg, int status, int, unsigned char* abuf, int alen) {
        std::unique_ptr<Sent> sent(static_cast<Sent*>(arg));
        if (status == ARES_EDESTRUCTION || sent->impl->destroying) return;
        // No answer (no reply in time, a refused connection): the query is sent again
        // when its 5 seconds are up, as nginx's is.
        if (status != ARES_SUCCESS || !abuf) return;
        sent->impl->process_response(*sent, abuf, static_cast<std::size_t>(alen));
    }

    // ngx_resolver_process_response.
    void process_response(const Sent& sent, const unsigned char* buf, std::size_t n) {
        std::string error;
        const std::optional<dns::Question> q = dns::read_question(buf, n, error);
        if (!q) return log(error);
        if (dns::rcode_dropped(*q)) {
            std::string line = "DNS error (" + std::to_string(q->code) + ": " + resolver_strerror(static_cast<int>(q->code)) +
                               "), query id:" + std::to_string(q->ident);
            // nginx names a FORMERR's query when it is still waiting for it, and waits on.
            const auto it = nodes.find(sent.name);
            if (q->code == dns::kFormErr && it != nodes.end() && it->second->querying && it->second->queue == &resend_queue)
                line += ", name:\"" + sent.name + "\"";
            return log(line);
        }
        process_a(sent, buf, n, *q);
    }

    // Whether `rn` still waits for an answer of the other type after this one.
    static bool other_pending(const Node& rn, bool aaaa) { return aaaa ? rn.a_pending : rn.ask_aaaa && rn.aaaa_pending; }

    static void answer_done(Node& rn, bool aaaa) { (aaaa ? rn.aaaa_pending : rn.a_pending) = false; }

    // ngx_resolver_process_a: an A or AAAA answer for a name still asked.
    void process_a(const Sent& sent, const unsigned char* buf, std::size_t n, const dns::Question& q) {
        std::string error;
        const auto name = dns::copy_name(buf, n, 12, error);
        if (!name) return log(error);
        const auto it = nodes.find(*name);
        Node* rn = it == nodes.end() ? nullptr : it->second.get();
        const bool aaaa = q.qtype == dns::kTypeAaaa;
        if (!rn || !rn->querying || !(aaaa ? rn->ask_aaaa && rn->aaaa_pending : rn->a_pending)) {
            log("unexpected DNS response for " + *name);
            return;
        }
        if (sent.generation != rn->generation) return;  // nginx's "wrong ident": an earlier round's answer

        unsigned code = q.code;
        if (code == 0 && rn->code) code = static_cast<unsigned>(rn->code);
        if (code == 0 && q.answers == 0) {
            answer_done(*rn, aaaa);
            if (aaaa) rn->addrs6.clear();
            else rn->addrs.clear();
            if (other_pending(*rn, aaaa)) return;
            if (!rn->addrs.empty() || !rn->addrs6.empty()) return export_answer(*rn);
            code = dns::kNxDomain;
        }
        if (code) return fail_answer(*rn, aaaa, code);

        dns::Records records = dns::read_records(buf, n, q);
        for (const std::string& note : records.notes) log(note);
        rn->ttl = std::min(rn->ttl, records.ttl);
        if (!records.error.empty()) return log(records.error);
        const bool had_addresses = !records.addrs.empty() || !records.addrs6.empty();
        rn->addrs.insert(rn->addrs.end(), records.addrs.begin(), records.addrs.end());
        rn->addrs6.insert(rn->addrs6.end(), records.addrs6.begin(), records.addrs6.end());
        answer_done(*rn, aaaa);
        if (had_addresses && other_pending(*rn, aaaa)) return;
        if (!rn->a_pending && !(rn->ask_aaaa && rn->aaaa_pending) && rn->addrs.size() + rn->addrs6.size() > 0)
            return export_answer(*rn);
        if (records.cname) return follow_cname(*rn, buf, n, *records.cname);
        log("no A or CNAME types in DNS response");
    }

    // An rcode (or no address at all): the waiters get it, unless the other answer is
    // still to come; the name is not cached.
    void fail_answer(Node& rn, bool aaaa, unsigned code) {
        answer_done(rn, aaaa);
        if (aaaa) rn.addrs6.clear();
        else rn.addrs.clear();
        if (other_pending(rn, aaaa)) {
            rn.code = static_cast<int>(code);
            return;
        }
        std::vector<Waiter*> ws = take_waiting(rn);
        drop(rn);
        finish_all(std::move(ws), static_cast<int>(code), {});
    }

    void cache(Node& rn) {
        const std::time_t now = std::time(nullptr);
        rn.valid = now + (conf.valid ? conf.valid : static_cast<std::time_t>(rn.ttl));
        rn.expire = now + kExpire;
        queue_head(rn, expire_queue);
        rn.querying = false;
    }

    void export_answer(Node& rn) {
        const auto addrs = export_addrs(rn, false);
        cache(rn);
        finish_all(take_waiting(rn), 0, addrs);
    }

    // A CNAME alone: cached, and its target resolved for the waiters (nginx's recursion).
    void follow_cname(Node& rn, const unsigned char* buf, std::size_t n, std::size_t target_at) {
        if (rn.a_pending || (rn.ask_aaaa && rn.aaaa_pending)) return;  // CNAME only: the other answer too
        std::string error;
        auto target = dns::copy_name(buf, n, target_at, error);
        if (!target) return log(error);
        rn.cname = *target;
        cache(rn);
        std::vector<Waiter*> ws = take_waiting(rn);
        if (ws.empty()) return;
        if (ws.front()->recursion++ >= kMaxRecursion) {
            finish_all(std::move(ws), dns::kNxDomain, {});
            return;
        }
        for (Waiter* w : ws) w->node = nullptr;
        resolve_locked(std::move(ws), *target);
    }

    WorkerExecutor executor;
    TimerTree& timers;
    const ir::Resolver& conf;
    const ErrorLog& log_;
    std::vector<std::unique_ptr<DnsChannel>> channels;
    std::size_t last_connection = 0;
    std::unordered_map<std::string, std::unique_ptr<Node>> nodes;
    std::list<Node*> resend_queue;
    std::list<Node*> expire_queue;
    ResendTimer resend_timer;
    std::unordered_set<Waiter*> waiters;
    bool destroying = false;
    bool stopping = false;
    bool shut_down_posted = false;
};

Resolver::Resolver(WorkerExecutor executor, TimerTree& timers, const ir::Resolver& conf, const ErrorLog& log)
    : impl_(std::make_unique<Impl>(executor, timers, conf, log)) {}

Resolver::~Resolver() = default;

void Resolver::resolve(std::string name, ir::Msec timeout, Handler handler) {
    impl_->resolve(std::move(name), timeout, std::move(handler));
}

namespace {
thread_local std::vector<std::unique_ptr<Resolver>> resolvers;
}

void Resolver::stop() { impl_->stop(); }

void stop_worker_resolvers() {
    for (auto& r : resolvers)
        if (r) r->stop();
}

Resolver& worker_resolver(const ir::Config& config, int index, WorkerExecutor executor, TimerTree& timers,
                          const ErrorLog& log) {
    if (resolvers.size() < config.resolvers.size()) resolvers.resize(config.resolvers.size());
    auto& slot = resolvers.at(static_cast<std::size_t>(index));
    if (!slot) slot = std::make_unique<Resolver>(executor, timers, config.resolvers[static_cast<std::size_t>(index)], log);
    return *slot;
}

}  // namespace ngxlite::runtime
