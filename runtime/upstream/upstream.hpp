// Upstream groups at run time: nginx's balancers (smooth weighted round robin with
// max_fails/fail_timeout/backup/down/max_conns, least_conn, ip_hash, hash [consistent],
// random [two]) and the keepalive cache of idle connections.
//
// nginx keeps this state per worker process (no `zone`); ngxlite keeps it per worker
// thread and per loaded config, so the request path takes no lock and a reload starts
// from fresh state, as nginx's new workers do.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/http/request.hpp"
#include "runtime/tls/tls.hpp"
#include "runtime/io/transport_stream.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ngxlite::runtime {

// One resolved address of an upstream server (nginx's ngx_http_upstream_rr_peer_t).
struct Peer {
    const ir::Endpoint* endpoint = nullptr;
    const ir::UpstreamServer* server = nullptr;
    int weight = 1;
    int effective_weight = 1;
    int current_weight = 0;
    int conns = 0;
    int fails = 0;
    std::time_t accessed = 0;
    std::time_t checked = 0;
    TlsSession tls_session;  // proxy_ssl_session_reuse: the last session this server gave

    // Usable now: not down, not failed within fail_timeout, under max_conns.
    bool available(std::time_t now) const;
};

// The primary peers, or the backup ones.
struct PeerList {
    std::vector<Peer> peers;
    int total_weight = 0;
    int tries = 0;        // peers not marked down: the attempts they allow (nginx's peers->tries)
    bool single = false;  // one peer and no backups: nginx skips the failure accounting
};

class IdleConnections;

// A group's state in one worker thread.
class UpstreamState {
public:
    // `timers` times out idle keepalive connections.
    UpstreamState(const ir::UpstreamGroup& group, TimerTree& timers);
    ~UpstreamState();
    UpstreamState(const UpstreamState&) = delete;
    UpstreamState& operator=(const UpstreamState&) = delete;

    const ir::UpstreamGroup& group;
    PeerList primary;
    PeerList backup;
    // hash ... consistent: points on the ring, sorted by hash (ngx_http_upstream_init_chash).
    struct ChashPoint {
        std::uint32_t hash;
        const ir::UpstreamServer* server;
    };
    std::vector<ChashPoint> points;
    std::unique_ptr<IdleConnections> idle;  // keepalive N, else null
};

// One request's walk through a group's peers (nginx's rr_peer_data plus the balancer's).
class PeerSelection {
public:
    // `key`: the client address bytes for ip_hash, the evaluated key for hash.
    PeerSelection(std::shared_ptr<UpstreamState> state, std::string key);

    // The next peer to try while tries() > 0, or nullptr: no live upstreams.
    Peer* next();
    // The attempt on the current peer ended; `failed` counts towards max_fails. Logs
    // "upstream server temporarily disabled" through `warn` when it reaches max_fails.
    template <typename Warn>
    void finish(bool failed, Warn&& warn) {
        if (!current_) return;
        if (finish_peer(failed)) warn();
    }
    // ngx_stream_upstream_notify_round_robin_peer: a stream session's TCP upstream is
    // connected (and through TLS): a peer that had failed counts as recovered now, while
    // the session still holds it.
    void connected() {
        if (current_ && current_->accessed < current_->checked) current_->fails = 0;
    }
    int tries() const { return tries_; }
    // proxy_next_upstream_tries.
    void limit_tries(int n) {
        if (n > 0 && tries_ > n) tries_ = n;
    }
    // A cached keepalive connection failed: nginx tries again without counting it.
    void retry_cached() { ++tries_; }
    bool single() const { return list_->single; }
    UpstreamState& state() { return *holder_; }

private:
    bool finish_peer(bool failed);  // true: the peer just reached max_fails
    Peer* round_robin();
    Peer* least_conn();
    Peer* ip_hash();
    Peer* hash();
    Peer* chash();
    Peer* random(bool two);
    Peer* take(Peer* p);
    Peer& by_weight(std::uint32_t value);
    bool tried(const Peer& p) const;

    std::shared_ptr<UpstreamState> holder_;  // kept while the request uses it, across reloads
    UpstreamState& state_;
    PeerList* list_;
    std::vector<bool> tried_;
    Peer* current_ = nullptr;
    int tries_ = 0;          // attempts left (ngx_peer_connection_t::tries)
    int balancer_tries_ = 0; // rehashes so far (ip_hash, hash, random: 20 then round robin)
    std::string key_;
    std::uint32_t hash_ = 0;
    int rehash_ = 0;
    bool hash_started_ = false;
};

// keepalive N: idle connections of one group in one worker, most recent first. An idle
// connection that turns readable (the upstream closed it or sent junk) or outlives
// keepalive_timeout is closed, as nginx's ngx_http_upstream_keepalive_close_handler.
class IdleConnections {
public:
    IdleConnections(TimerTree& timers, std::size_t capacity, ir::Msec timeout, ir::Msec max_age);
    ~IdleConnections();

    struct Entry;
    // A connection is kept with what it was made with: the peer and, over TLS, the
    // location's context (its certificate, verification and protocols), the name
    // checked and sent as SNI and a certificate named by variables; it is handed only to an exchange that would make the same.
    struct Key {
        ir::Endpoint peer;
        const SSL_CTX* tls = nullptr;  // null in the clear
        std::string tls_name;
        std::string tls_certificate;  // proxy_ssl_certificate evaluated, when it holds variables
        bool operator==(const Key&) const = default;
    };
    struct Kept {
        std::unique_ptr<TransportStream> stream;
        int requests;  // served on it so far
        std::chrono::steady_clock::time_point opened;
    };
    // An idle connection made as `key` says; nullopt: none.
    std::optional<Kept> take(const Key& key);
    // Caches a connection after a complete exchange, unless older than keepalive_time
    // (ngx_http_upstream_free_keepalive_peer); evicts the oldest when full.
    void put(Kept kept, Key key);
    std::size_t size() const { return entries_.size(); }

private:
    // By value: `e` may be the list's own element, which drop frees.
    void drop(std::shared_ptr<Entry> e);

    TimerTree& timers_;
    std::size_t capacity_;
    ir::Msec timeout_;
    ir::Msec max_age_;
    std::list<std::shared_ptr<Entry>> entries_;
};

// This worker thread's state for a group of its serving process's config (`groups`: the
// http or the stream list).
std::shared_ptr<UpstreamState> upstream_state(const std::vector<ir::UpstreamGroup>& groups, std::size_t group_index,
                                              TimerTree& timers);

// "host[:port]" of proxy_pass with variables, split as ngx_parse_inet_url does: the port
// follows the last ':' outside an IPv6 address's brackets and is a number from 1 to 65535;
// nullopt when it is not ("invalid port").
struct HostPort {
    std::string_view host;
    std::uint16_t port = 0;
    bool no_port = true;
};
std::optional<HostPort> split_host_port(std::string_view text);

// proxy_pass with variables (http and stream): the evaluated host names an upstream {}
// group (when no port is given) or an implicit group of the same host and port; else an
// address becomes a group of its own named `name`, made in `literal`. nullptr with neither: a host
// name needs a resolver, which ngxlite has not ("no resolver defined to resolve ...").
const ir::UpstreamGroup* runtime_upstream(const std::vector<ir::UpstreamGroup>& groups, std::string_view host,
                                          std::uint16_t port, bool no_port, std::string_view name,
                                          std::optional<ir::UpstreamGroup>& literal);

// proxy_pass with variables to "unix:PATH[:URI]" (ngx_parse_unix_domain_url, the URI only
// `with_uri`, in http): the group of that one socket in `literal` and the URI, or nginx's
// error ("no path in the unix domain socket").
struct UnixTarget {
    std::string error;
    std::string uri;
};
UnixTarget unix_upstream(std::string_view url, bool with_uri, std::optional<ir::UpstreamGroup>& literal);

// A name's resolved addresses as the peers of one request or session
// (ngx_http_upstream_create_round_robin_peer): each at `port`, weight 1, max_fails 1,
// fail_timeout 10s; the group is named by the host ("no live upstreams").
ir::UpstreamGroup resolved_group(std::string_view host, std::uint16_t port, const std::vector<boost::asio::ip::address>& addrs);

// The name as the resolver logs it: lowercased, without a trailing dot.
std::string resolver_name(std::string_view host);

// The balancer's key: the client address for ip_hash (three octets of IPv4; three zero
// octets for a unix-domain client, nginx's pseudo address), the evaluated `hash` key;
// empty for the others.
std::string balancer_key(const ir::UpstreamGroup& g, const RequestContext& ctx);

// CRC-32 as nginx's ngx_crc32 (the zlib polynomial), for hash and hash consistent.
std::uint32_t crc32_update(std::uint32_t crc, std::string_view data);
inline std::uint32_t crc32(std::string_view data) { return crc32_update(0xffffffffu, data) ^ 0xffffffffu; }

}  // namespace ngxlite::runtime
