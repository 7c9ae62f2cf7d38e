#include "runtime/resolver.hpp"

#include "runtime/logs.hpp"

#include <ares.h>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/post.hpp>

#include <poll.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <list>
#include <map>
#include <mutex>
#include <random>
#include <unordered_map>
#include <unordered_set>

namespace ngxlite::runtime {

namespace {

constexpr int kFormErr = 1;
constexpr int kNxDomain = 3;
constexpr int kRefused = 5;
constexpr int kTimedOut = 110;  // NGX_RESOLVE_TIMEDOUT (NGX_ETIMEDOUT)

constexpr unsigned kTypeA = 1;
constexpr unsigned kTypeCname = 5;
constexpr unsigned kTypeAaaa = 28;
constexpr unsigned kTypeDname = 39;

constexpr int kMaxRecursion = 50;                  // NGX_RESOLVER_MAX_RECURSION
constexpr auto kResendTimeout = std::chrono::seconds(5);  // r->resend_timeout
constexpr std::time_t kExpire = 30;                // r->expire: an unused answer is dropped after it
// How long c-ares waits for an answer to one query. nginx sends the same query (the same
// ident) again every 5 seconds while someone waits, and a late answer to an earlier send
// still counts: c-ares keeps each query that long, and this code sends again itself.
constexpr int kAresTimeoutMs = 30000;

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

    // A socket c-ares asked to be watched.
    struct Watch {
        explicit Watch(WorkerExecutor ex, int fd) : descriptor(ex, fd) {}
        boost::asio::posix::basic_stream_descriptor<WorkerExecutor> descriptor;
        bool want_read = false, want_write = false, reading = false, writing = false, closed = false;
    };

    // One name server: a c-ares channel of its own, so each query goes where nginx sends it.
    struct Channel {
        struct Timer final : Timeout {
            Timer(TimerTree& t, Channel& c) : Timeout(t), channel(c) {}
            void expired() override { channel.process(ARES_SOCKET_BAD, ARES_SOCKET_BAD); }
            Channel& channel;
        };
        Channel(Impl& r, const ir::Endpoint& server) : impl(r), name(server.text()), timer(r.timers, *this) {}
        ~Channel() {
            if (ares) ares_destroy(ares);
            for (auto& [fd, w] : watches) {  // c-ares has closed them
                w->closed = true;
                w->descriptor.release();
            }
        }

        static void sock_state(void* data, ares_socket_t fd, int readable, int writable) {
            auto& c = *static_cast<Channel*>(data);
            if (!readable && !writable) {
                const auto it = c.watches.find(fd);
                if (it == c.watches.end()) return;
                it->second->closed = true;
                it->second->descriptor.release();  // c-ares closes it
                c.watches.erase(it);
                return;
            }
            auto& w = c.watches[fd];
            if (!w) w = std::make_shared<Watch>(c.impl.executor, fd);
            w->want_read = readable != 0;
            w->want_write = writable != 0;
            c.arm(w, fd);
        }

        void arm(const std::shared_ptr<Watch>& w, int fd) {
            if (impl.destroying) return;
            if (w->want_read && !w->reading) {
                w->reading = true;
                w->descriptor.async_wait(boost::asio::posix::descriptor_base::wait_read,
                                         [this, w, fd](const boost::system::error_code& ec) {
                    w->reading = false;
                    if (ec || w->closed) return;
                    // Asio's epoll is edge-triggered and c-ares reads a TCP answer's length
                    // and its body in two calls: go on while the socket still has bytes.
                    for (int i = 0; i < 64 && !w->closed; ++i) {
                        process(fd, ARES_SOCKET_BAD);
                        pollfd p{fd, POLLIN, 0};
                        if (w->closed || ::poll(&p, 1, 0) <= 0) break;
                    }
                    if (!w->closed) arm(w, fd);
                });
            }
            if (w->want_write && !w->writing) {
                w->writing = true;
                w->descriptor.async_wait(boost::asio::posix::descriptor_base::wait_write,
                                         [this, w, fd](const boost::system::error_code& ec) {
                    w->writing = false;
                    if (ec || w->closed) return;
                    process(ARES_SOCKET_BAD, fd);
                    if (!w->closed) arm(w, fd);
                });
            }
        }

        void process(ares_socket_t read_fd, ares_socket_t write_fd) {
            ares_process_fd(ares, read_fd, write_fd);
            update_timer();
        }

        void update_timer() {
            timeval tv{};
            if (impl.destroying || !ares_timeout(ares, nullptr, &tv)) {
                timer.disarm();
                return;
            }
            timer.arm(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec) + std::chrono::milliseconds(1));
        }

        void send(const std::string& query, Sent* sent) {
            ares_send(ares, reinterpret_cast<const unsigned char*>(query.data()), static_cast<int>(query.size()),
                      &Impl::answered, sent);
            update_timer();
        }

        Impl& impl;
        ares_channel ares = nullptr;
        std::string name;  // "127.0.0.1:53", as nginx names it
        std::map<int, std::shared_ptr<Watch>> watches;
        Timer timer;
    };

    // nginx's resend event: one timer for every name whose queries are out.
    struct ResendTimer final : Timeout {
        ResendTimer(TimerTree& t, Impl& r) : Timeout(t), impl(r) {}
        void expired() override { impl.resend(); }
        Impl& impl;
    };

    Impl(WorkerExecutor ex, TimerTree& t, const ir::Resolver& c, const ErrorLog& l)
        : executor(ex), timers(t), conf(c), log_(l), resend_timer(t, *this) {
        static std::once_flag library;
        std::call_once(library, [] { ares_library_init(ARES_LIB_INIT_ALL); });
        for (const ir::Endpoint& server : conf.servers) {
            auto channel = std::make_unique<Channel>(*this, server);
            ares_options o{};
            // Every answer comes back here as it came (nginx reads SERVFAIL and the rest
            // itself), no search list, no aliases; sockets stay open as nginx's do.
            o.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_STAYOPEN;
            o.timeout = kAresTimeoutMs;
            o.tries = 1;
            o.sock_state_cb = &Channel::sock_state;
            o.sock_state_cb_data = channel.get();
            const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
            if (ares_init_options(&channel->ares, &o, mask) != ARES_SUCCESS) {
                channel->ares = nullptr;
                log("ares_init_options() failed for resolver " + channel->name);
            } else {
                ares_addr_port_node node{};
                boost::system::error_code ec;
                const auto address = boost::asio::ip::make_address(server.ip, ec);
                if (address.is_v6()) {
                    node.family = AF_INET6;
                    const auto bytes = address.to_v6().to_bytes();
                    std::memcpy(&node.addr.addr6, bytes.data(), bytes.size());
                } else {
                    node.family = AF_INET;
                    const auto bytes = address.to_v4().to_bytes();
                    std::memcpy(&node.addr.addr4, bytes.data(), bytes.size());
                }
                node.udp_port = node.tcp_port = server.port;
                ares_set_servers_ports(channel->ares, &node);
            }
            channels.push_back(std::move(channel));
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

    // ngx_resolver_create_name_query: "\3www\7example\3com\0", type, class IN, recursion
    // desired; c-ares sets the id. False: a name nginx declines (an empty label).
    static bool make_query(std::string_view name, unsigned qtype, std::string& out) {
        out.assign("\0\0\1\0\0\1\0\0\0\0\0\0", 12);
        if (name.empty()) return false;
        std::size_t start = 0;
        for (;;) {
            const std::size_t dot = name.find('.', start);
            const std::string_view label = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
            if (label.empty() || label.size() > 255) return false;
            out += static_cast<char>(label.size());
            out += label;
            if (dot == std::string_view::npos) break;
            start = dot + 1;
        }
        out += '\0';
        out += '\0';
        out += static_cast<char>(qtype);
        out += '\0';
        out += '\1';
        return true;
    }

    void send_query(Node& rn) {
        Channel& c = *channels[rn.last_connection];
        if (!c.ares) return;
        if (rn.a_pending) c.send(rn.query_a, new Sent{this, rn.name, kTypeA, rn.generation, rn.last_connection});
        if (rn.ask_aaaa && rn.aaaa_pending)
            c.send(rn.query_aaaa, new Sent{this, rn.name, kTypeAaaa, rn.generation, rn.last_connection});
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
                finish_all(std::move(ws), kNxDomain, {});
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
        if (!make_query(name, kTypeA, rn->query_a) || (conf.ipv6 && !make_query(name, kTypeAaaa, rn->query_aaaa))) {
            drop(*rn);
            finish_all(std::move(ws), kNxDomain, {});
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

    // ngx_resolver_copy: a name in the answer, compression followed, lowercased.
    std::optional<std::string> copy_name(const unsigned char* buf, std::size_t n, std::size_t src) const {
        std::size_t p = src;
        bool done = false;
        for (int i = 0; i < 128 && !done; ++i) {
            if (p >= n) break;
            const unsigned c = buf[p++];
            if (c == 0) {
                done = true;
                break;
            }
            if (c & 0xc0) {
                if ((c & 0xc0) != 0xc0) {
                    log("invalid label type in DNS response");
                    return std::nullopt;
                }
                if (p >= n) {
                    log("name is out of DNS response");
                    return std::nullopt;
                }
                p = ((c & 0x3f) << 8) + buf[p];
            } else {
                p += c;
            }
            if (p >= n) {
                log("name is out of DNS response");
                return std::nullopt;
            }
        }
        if (!done) {
            log("compression pointers loop in DNS response");
            return std::nullopt;
        }
        std::string name;
        p = src;
        for (;;) {
            const unsigned c = buf[p];
            if (c == 0) break;
            if (c & 0xc0) {
                p = ((c & 0x3f) << 8) + buf[p + 1];
                continue;
            }
            if (!name.empty()) name += '.';
            name += lowercase(std::string_view(reinterpret_cast<const char*>(buf + p + 1), c));
            p += 1 + c;
        }
        return name;
    }

    // ngx_resolver_process_response.
    void process_response(const Sent& sent, const unsigned char* buf, std::size_t n) {
        if (n < 12) {
            log("short DNS response");
            return;
        }
        const unsigned ident = (buf[0] << 8) + buf[1];
        const unsigned flags = (buf[2] << 8) + buf[3];
        const unsigned nqs = (buf[4] << 8) + buf[5];
        const unsigned nan = (buf[6] << 8) + buf[7];
        const bool trunc = flags & 0x0200;
        // c-ares asks again over TCP when a UDP answer is truncated: one that still is came by TCP.
        if ((flags & 0xf870) != 0x8000 || trunc) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "%04X", flags);
            log(std::string("invalid ") + (trunc ? "TCP" : "UDP") + " DNS response " + std::to_string(ident) + " fl:" + hex);
            return;
        }
        const unsigned code = flags & 0xf;
        if (code == kFormErr) {
            // nginx names the query when it is still waiting for it, and waits on.
            const auto it = nodes.find(sent.name);
            if (it != nodes.end() && it->second->querying && it->second->queue == &resend_queue) {
                log("DNS error (" + std::to_string(code) + ": " + resolver_strerror(static_cast<int>(code)) +
                    "), query id:" + std::to_string(ident) + ", name:\"" + sent.name + "\"");
                return;
            }
            log("DNS error (" + std::to_string(code) + ": " + resolver_strerror(static_cast<int>(code)) +
                "), query id:" + std::to_string(ident));
            return;
        }
        if (code > kRefused) {
            log("DNS error (" + std::to_string(code) + ": " + resolver_strerror(static_cast<int>(code)) +
                "), query id:" + std::to_string(ident));
            return;
        }
        if (nqs != 1) {
            log("invalid number of questions in DNS response");
            return;
        }
        std::size_t i = 12;
        while (i < n && buf[i] != 0) {
            if (buf[i] & 0xc0) {
                log("unexpected compression pointer in DNS response");
                return;
            }
            i += 1 + buf[i];
        }
        if (i >= n) {
            log("short DNS response");
            return;
        }
        if (i++ == 12) {
            log("zero-length domain name in DNS response");
            return;
        }
        if (i + 4 + nan * (2 + 10) > n) {
            log("short DNS response");
            return;
        }
        const unsigned qtype = (buf[i] << 8) + buf[i + 1];
        const unsigned qclass = (buf[i + 2] << 8) + buf[i + 3];
        if (qclass != 1) {
            log("unknown query class " + std::to_string(qclass) + " in DNS response");
            return;
        }
        if (qtype != kTypeA && qtype != kTypeAaaa) {
            log("unknown query type " + std::to_string(qtype) + " in DNS response");
            return;
        }
        process_a(sent, buf, n, code, qtype, nan, i + 4);
    }

    // ngx_resolver_process_a: an A or AAAA answer for a name still asked.
    void process_a(const Sent& sent, const unsigned char* buf, std::size_t n, unsigned code, unsigned qtype, unsigned nan,
                   std::size_t ans) {
        const auto name = copy_name(buf, n, 12);
        if (!name) return;
        const auto it = nodes.find(*name);
        Node* rn = it == nodes.end() ? nullptr : it->second.get();
        const bool aaaa = qtype == kTypeAaaa;
        if (!rn || !rn->querying || !(aaaa ? rn->ask_aaaa && rn->aaaa_pending : rn->a_pending)) {
            log("unexpected DNS response for " + *name);
            return;
        }
        if (sent.generation != rn->generation) return;  // nginx's "wrong ident": an earlier round's answer

        if (code == 0 && rn->code) code = static_cast<unsigned>(rn->code);
        bool export_now = false;
        if (code == 0 && nan == 0) {
            if (aaaa) {
                rn->aaaa_pending = false;
                rn->addrs6.clear();
                if (rn->a_pending) return;
                export_now = !rn->addrs.empty();
            } else {
                rn->a_pending = false;
                rn->addrs.clear();
                if (rn->ask_aaaa && rn->aaaa_pending) return;
                export_now = !rn->addrs6.empty();
            }
            if (!export_now) code = kNxDomain;
        }
        if (!export_now && code) {
            if (aaaa) {
                rn->aaaa_pending = false;
                rn->addrs6.clear();
                if (rn->a_pending) {
                    rn->code = static_cast<int>(code);
                    return;
                }
            } else {
                rn->a_pending = false;
                rn->addrs.clear();
                if (rn->ask_aaaa && rn->aaaa_pending) {
                    rn->code = static_cast<int>(code);
                    return;
                }
            }
            std::vector<Waiter*> ws = take_waiting(*rn);
            drop(*rn);  // not cached
            finish_all(std::move(ws), static_cast<int>(code), {});
            return;
        }

        std::optional<std::size_t> cname;
        if (!export_now) {
            std::size_t i = ans;
            unsigned naddrs = 0;
            for (unsigned a = 0; a < nan; ++a) {
                const std::size_t start = i;
                bool found = false, ended = false;
                while (i < n) {
                    if (buf[i] & 0xc0) {
                        i += 2;
                        found = true;
                        break;
                    }
                    if (buf[i] == 0) {
                        ++i;
                        ended = true;
                        break;
                    }
                    i += 1 + buf[i];
                }
                if (!found && !ended) return log("short DNS response");
                if (ended && i - start < 2) return log("invalid name in DNS response");
                if (i + 10 >= n) return log("short DNS response");
                const unsigned type = (buf[i] << 8) + buf[i + 1];
                const unsigned cls = (buf[i + 2] << 8) + buf[i + 3];
                std::int32_t ttl = static_cast<std::int32_t>((std::uint32_t{buf[i + 4]} << 24) + (std::uint32_t{buf[i + 5]} << 16) +
                                                             (std::uint32_t{buf[i + 6]} << 8) + buf[i + 7]);
                const std::size_t len = (buf[i + 8] << 8) + buf[i + 9];
                if (cls != 1) return log("unexpected RR class " + std::to_string(cls) + " in DNS response");
                if (ttl < 0) ttl = 0;
                rn->ttl = std::min(rn->ttl, static_cast<std::uint32_t>(ttl));
                i += 10;
                switch (type) {
                case kTypeA:
                    if (qtype != kTypeA) return log("unexpected A record in DNS response");
                    if (len != 4) return log("invalid A record in DNS response");
                    if (i + 4 > n) return log("short DNS response");
                    ++naddrs;
                    break;
                case kTypeAaaa:
                    if (qtype != kTypeAaaa) return log("unexpected AAAA record in DNS response");
                    if (len != 16) return log("invalid AAAA record in DNS response");
                    if (i + 16 > n) return log("short DNS response");
                    ++naddrs;
                    break;
                case kTypeCname: cname = i; break;
                case kTypeDname: break;
                default: log("unexpected RR type " + std::to_string(type) + " in DNS response");
                }
                i += len;
            }
            if (naddrs) {
                i = ans;
                for (unsigned a = 0; a < nan; ++a) {
                    while (!(buf[i] & 0xc0) && buf[i] != 0) i += 1 + buf[i];
                    i += buf[i] & 0xc0 ? 2 : 1;
                    const unsigned type = (buf[i] << 8) + buf[i + 1];
                    const std::size_t len = (buf[i + 8] << 8) + buf[i + 9];
                    i += 10;
                    if (type == kTypeA && !aaaa) {
                        rn->addrs.push_back(boost::asio::ip::address_v4({buf[i], buf[i + 1], buf[i + 2], buf[i + 3]}));
                    } else if (type == kTypeAaaa && aaaa) {
                        boost::asio::ip::address_v6::bytes_type b;
                        std::copy(buf + i, buf + i + 16, b.begin());
                        rn->addrs6.push_back(boost::asio::ip::address_v6(b));
                    }
                    i += len;
                }
                if (aaaa) {
                    rn->aaaa_pending = false;
                    if (rn->a_pending) return;
                } else {
                    rn->a_pending = false;
                    if (rn->ask_aaaa && rn->aaaa_pending) return;
                }
            }
            if (aaaa) rn->aaaa_pending = false;
            else rn->a_pending = false;
            export_now = !rn->a_pending && !(rn->ask_aaaa && rn->aaaa_pending) && rn->addrs.size() + rn->addrs6.size() > 0;
        }

        const std::time_t now = std::time(nullptr);
        if (export_now) {
            const auto addrs = export_addrs(*rn, false);
            rn->valid = now + (conf.valid ? conf.valid : static_cast<std::time_t>(rn->ttl));
            rn->expire = now + kExpire;
            queue_head(*rn, expire_queue);
            rn->querying = false;
            finish_all(take_waiting(*rn), 0, addrs);
            return;
        }
        if (cname) {
            if (rn->a_pending || (rn->ask_aaaa && rn->aaaa_pending)) return;  // CNAME only: the other answer too
            auto target = copy_name(buf, n, *cname);
            if (!target) return;
            rn->cname = *target;
            rn->valid = now + (conf.valid ? conf.valid : static_cast<std::time_t>(rn->ttl));
            rn->expire = now + kExpire;
            queue_head(*rn, expire_queue);
            rn->querying = false;
            std::vector<Waiter*> ws = take_waiting(*rn);
            if (ws.empty()) return;
            if (ws.front()->recursion++ >= kMaxRecursion) {
                finish_all(std::move(ws), kNxDomain, {});
                return;
            }
            for (Waiter* w : ws) w->node = nullptr;
            resolve_locked(std::move(ws), *target);
            return;
        }
        log("no A or CNAME types in DNS response");
    }

    WorkerExecutor executor;
    TimerTree& timers;
    const ir::Resolver& conf;
    const ErrorLog& log_;
    std::vector<std::unique_ptr<Channel>> channels;
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
