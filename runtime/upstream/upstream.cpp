#include "runtime/upstream/upstream.hpp"

#include "runtime/core/text.hpp"
#include "runtime/io/unix_socket.hpp"

#include <boost/asio/ip/address.hpp>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <random>


namespace ngxlite::runtime {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::time_t seconds(ir::Msec ms) { return static_cast<std::time_t>(ms.count() / 1000); }

PeerList make_list(const ir::UpstreamGroup& g, bool backup) {
    PeerList list;
    for (const auto& s : g.servers) {
        if (s.backup != backup) continue;
        for (const auto& e : s.endpoints) {
            Peer p;
            p.endpoint = &e;
            p.server = &s;
            p.weight = p.effective_weight = s.weight;
            list.peers.push_back(p);
            list.total_weight += s.weight;
            if (!s.down) ++list.tries;
        }
    }
    return list;
}

}  // namespace

bool Peer::available(std::time_t now) const {
    if (server->down) return false;
    if (server->max_fails && fails >= server->max_fails && now - checked <= seconds(server->fail_timeout)) return false;
    if (server->max_conns && conns >= server->max_conns) return false;
    return true;
}

std::uint32_t crc32_update(std::uint32_t crc, std::string_view data) {
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    for (unsigned char ch : data) crc = table[(crc ^ ch) & 0xff] ^ (crc >> 8);
    return crc;
}

UpstreamState::UpstreamState(const ir::UpstreamGroup& g, TimerTree& timers)
    : group(g), primary(make_list(g, false)), backup(make_list(g, true)) {
    primary.single = primary.peers.size() == 1 && backup.peers.empty();
    backup.single = false;
    if (g.keepalive > 0)
        idle = std::make_unique<IdleConnections>(timers, static_cast<std::size_t>(g.keepalive), g.keepalive_timeout,
                                                 g.keepalive_time);
    if (g.balancer == ir::Balancer::hash_consistent) {
        // Compatible with Cache::Memcached::Fast: crc32(HOST \0 PORT PREV_HASH), 160 points per weight.
        for (const auto& s : g.servers) {
            if (s.endpoints.empty()) continue;
            std::string_view name = s.name, host = name, port;
            if (name.size() >= 5 && (name.substr(0, 5) == "unix:" || name.substr(0, 5) == "UNIX:")) {
                host = name.substr(5);
            } else if (auto colon = name.rfind(':'); colon != std::string_view::npos) {
                host = name.substr(0, colon);
                port = name.substr(colon + 1);
            }
            std::uint32_t base = crc32_update(0xffffffffu, host);
            base = crc32_update(base, std::string_view("\0", 1));
            base = crc32_update(base, port);
            std::uint32_t prev = 0;
            const int npoints = s.weight * 160 * static_cast<int>(s.endpoints.size());
            for (int j = 0; j < npoints; ++j) {
                unsigned char bytes[4] = {static_cast<unsigned char>(prev), static_cast<unsigned char>(prev >> 8),
                                          static_cast<unsigned char>(prev >> 16), static_cast<unsigned char>(prev >> 24)};
                const std::uint32_t h =
                    crc32_update(base, std::string_view(reinterpret_cast<const char*>(bytes), 4)) ^ 0xffffffffu;
                points.push_back({h, &s});
                prev = h;
            }
        }
        std::stable_sort(points.begin(), points.end(), [](const ChashPoint& a, const ChashPoint& b) { return a.hash < b.hash; });
        points.erase(std::unique(points.begin(), points.end(), [](const ChashPoint& a, const ChashPoint& b) { return a.hash == b.hash; }),
                     points.end());
    }
}

UpstreamState::~UpstreamState() = default;

PeerSelection::PeerSelection(std::shared_ptr<UpstreamState> state, std::string key)
    : holder_(std::move(state)), state_(*holder_), list_(&state_.primary), tried_(state_.primary.peers.size()),
      key_(std::move(key)) {
    tries_ = state_.primary.tries + state_.backup.tries;  // ngx_http_upstream_tries
}

bool PeerSelection::tried(const Peer& p) const { return tried_[static_cast<std::size_t>(&p - list_->peers.data())]; }

Peer* PeerSelection::take(Peer* p) {
    const std::time_t now = std::time(nullptr);
    if (now - p->checked > seconds(p->server->fail_timeout)) p->checked = now;
    tried_[static_cast<std::size_t>(p - list_->peers.data())] = true;
    ++p->conns;
    current_ = p;
    return p;
}

// The peer at `value` modulo the total weight, each peer spanning its weight.
Peer& PeerSelection::by_weight(std::uint32_t value) {
    int w = static_cast<int>(value % static_cast<std::uint32_t>(list_->total_weight));
    std::size_t i = 0;
    while (w >= list_->peers[i].weight) {
        w -= list_->peers[i].weight;
        ++i;
    }
    return list_->peers[i];
}

// ngx_http_upstream_get_peer: the highest current weight among the usable peers.
Peer* PeerSelection::round_robin() {
    if (list_->single) {
        // nginx neither marks nor checks a lone server as tried: a cached connection's
        // failure may try it again.
        Peer& p = list_->peers.front();
        if (p.server->down || (p.server->max_conns && p.conns >= p.server->max_conns)) return nullptr;
        return take(&p);
    }
    const std::time_t now = std::time(nullptr);
    Peer* best = nullptr;
    int total = 0;
    for (auto& p : list_->peers) {
        if (tried(p) || !p.available(now)) continue;
        p.current_weight += p.effective_weight;
        total += p.effective_weight;
        if (p.effective_weight < p.weight) ++p.effective_weight;
        if (!best || p.current_weight > best->current_weight) best = &p;
    }
    if (!best) return nullptr;
    best->current_weight -= total;
    return take(best);
}

// ngx_http_upstream_get_least_conn_peer: fewest connections per weight, ties by round robin.
Peer* PeerSelection::least_conn() {
    if (list_->single) return round_robin();
    const std::time_t now = std::time(nullptr);
    Peer* best = nullptr;
    bool many = false;
    for (auto& p : list_->peers) {
        if (tried(p) || !p.available(now)) continue;
        if (!best || p.conns * best->weight < best->conns * p.weight) {
            best = &p;
            many = false;
        } else if (p.conns * best->weight == best->conns * p.weight) {
            many = true;
        }
    }
    if (!best) return nullptr;
    if (many) {
        int total = 0;
        Peer* first = best;
        for (auto it = list_->peers.begin() + (first - list_->peers.data()); it != list_->peers.end(); ++it) {
            Peer& p = *it;
            if (tried(p) || !p.available(now)) continue;
            if (p.conns * best->weight != best->conns * p.weight) continue;
            p.current_weight += p.effective_weight;
            total += p.effective_weight;
            if (p.effective_weight < p.weight) ++p.effective_weight;
            if (p.current_weight > best->current_weight) best = &p;
        }
        best->current_weight -= total;
    }
    return take(best);
}

// ngx_http_upstream_get_ip_hash_peer: the first three octets of IPv4 (all of IPv6).
Peer* PeerSelection::ip_hash() {
    if (balancer_tries_ > 20 || list_->single) return round_robin();
    if (!hash_started_) {
        hash_ = 89;
        hash_started_ = true;
    }
    const std::time_t now = std::time(nullptr);
    for (;;) {
        for (unsigned char c : key_) hash_ = (hash_ * 113 + c) % 6271;
        Peer& p = by_weight(hash_);
        if (!tried(p) && p.available(now)) return take(&p);
        if (++balancer_tries_ > 20) return round_robin();
    }
}

// ngx_http_upstream_get_hash_peer: ((crc32([REHASH] KEY) >> 16) & 0x7fff) + PREV_HASH.
Peer* PeerSelection::hash() {
    if (balancer_tries_ > 20 || list_->single || key_.empty()) return round_robin();
    const std::time_t now = std::time(nullptr);
    for (;;) {
        std::uint32_t h = 0xffffffffu;
        if (rehash_ > 0) h = crc32_update(h, std::to_string(rehash_));
        h = crc32_update(h, key_) ^ 0xffffffffu;
        hash_ += (h >> 16) & 0x7fff;
        ++rehash_;
        Peer& p = by_weight(hash_);
        if (!tried(p) && p.available(now)) return take(&p);
        if (++balancer_tries_ > 20) return round_robin();
    }
}

// ngx_http_upstream_get_chash_peer: the ring point at or after crc32(key), then the next ones.
Peer* PeerSelection::chash() {
    const auto& points = state_.points;
    if (balancer_tries_ > 20 || list_->single || key_.empty() || points.empty()) return round_robin();
    if (!hash_started_) {
        const std::uint32_t h = crc32(key_);
        auto it = std::lower_bound(points.begin(), points.end(), h,
                                   [](const UpstreamState::ChashPoint& p, std::uint32_t v) { return p.hash < v; });
        hash_ = static_cast<std::uint32_t>(it - points.begin());
        hash_started_ = true;
    }
    const std::time_t now = std::time(nullptr);
    for (;;) {
        const ir::UpstreamServer* server = points[hash_ % points.size()].server;
        Peer* best = nullptr;
        int total = 0;
        for (auto& p : list_->peers) {
            if (tried(p) || !p.available(now) || p.server->name != server->name) continue;
            p.current_weight += p.effective_weight;
            total += p.effective_weight;
            if (p.effective_weight < p.weight) ++p.effective_weight;
            if (!best || p.current_weight > best->current_weight) best = &p;
        }
        if (best) {
            best->current_weight -= total;
            return take(best);
        }
        ++hash_;
        if (++balancer_tries_ > 20) return round_robin();
    }
}

// ngx_http_upstream_get_random_peer / random2: by weight; `two` keeps the one with fewer
// connections per weight of two picks.
Peer* PeerSelection::random(bool two) {
    if (balancer_tries_ > 20 || list_->single) return round_robin();
    thread_local std::minstd_rand rng{std::random_device{}()};
    const std::time_t now = std::time(nullptr);
    auto pick = [&]() -> Peer& { return by_weight(static_cast<std::uint32_t>(rng())); };
    for (;;) {
        Peer* p = &pick();
        if (!tried(*p) && p->available(now)) {
            if (!two) return take(p);
            for (;;) {
                Peer* q = &pick();
                if (q != p && !tried(*q) && q->available(now)) {
                    if (q->conns * p->weight < p->conns * q->weight) p = q;
                    return take(p);
                }
                if (++balancer_tries_ > 20) return round_robin();
            }
        }
        if (++balancer_tries_ > 20) return round_robin();
    }
}

Peer* PeerSelection::next() {
    Peer* p = nullptr;
    switch (state_.group.balancer) {
    case ir::Balancer::round_robin: p = round_robin(); break;
    case ir::Balancer::least_conn: p = least_conn(); break;
    case ir::Balancer::ip_hash: p = ip_hash(); break;
    case ir::Balancer::hash: p = hash(); break;
    case ir::Balancer::hash_consistent: p = chash(); break;
    case ir::Balancer::random: p = random(false); break;
    case ir::Balancer::random_two: p = random(true); break;
    }
    if (p) return p;
    // Every primary peer is down or failed: the backups, from scratch (round robin).
    if (list_ == &state_.primary && !state_.backup.peers.empty()) {
        list_ = &state_.backup;
        tried_.assign(list_->peers.size(), false);
        return round_robin();
    }
    return nullptr;
}

// ngx_http_upstream_free_round_robin_peer.
bool PeerSelection::finish_peer(bool failed) {
    Peer* p = current_;
    current_ = nullptr;
    --p->conns;
    if (list_->single) {
        tries_ = 0;  // one server: nginx does not try it again, nor count its failures
        return false;
    }
    bool disabled = false;
    if (failed) {
        const std::time_t now = std::time(nullptr);
        ++p->fails;
        p->accessed = now;
        p->checked = now;
        if (p->server->max_fails) {
            p->effective_weight -= p->weight / p->server->max_fails;
            disabled = p->fails >= p->server->max_fails;
        }
        if (p->effective_weight < 0) p->effective_weight = 0;
    } else if (p->accessed < p->checked) {
        p->fails = 0;
    }
    if (tries_ > 0) --tries_;
    return disabled;
}

// --- keepalive ------------------------------------------------------------------------------

struct IdleConnections::Entry {
    // keepalive_timeout: drops the entry, as a close by the upstream does.
    struct Expiry : Timeout {
        Expiry(TimerTree& t, Entry& e) : Timeout(t), entry(e) {}
        void expired() override {
            if (entry.owner) entry.owner->drop(entry.self.lock());
        }
        Entry& entry;
    };
    Entry(Kept k, Key key_, TimerTree& timers)
        : stream(std::move(k.stream)), key(std::move(key_)), requests(k.requests), opened(k.opened), expiry(timers, *this) {}
    std::unique_ptr<TransportStream> stream;
    Key key;
    int requests;
    std::chrono::steady_clock::time_point opened;
    char peeked = 0;  // the watch's one byte, left in the socket
    Expiry expiry;
    std::weak_ptr<Entry> self;
    IdleConnections* owner = nullptr;  // null once taken or dropped: late handlers leave it alone
};

IdleConnections::IdleConnections(TimerTree& timers, std::size_t capacity, ir::Msec timeout, ir::Msec max_age)
    : timers_(timers), capacity_(capacity), timeout_(timeout), max_age_(max_age) {}

IdleConnections::~IdleConnections() {
    for (auto& e : entries_) {
        e->owner = nullptr;
        e->expiry.disarm();
        e->stream->timed().close();
    }
}

void IdleConnections::drop(std::shared_ptr<Entry> e) {
    entries_.remove(e);
    e->owner = nullptr;
    e->expiry.disarm();
    e->stream->timed().close();
}

std::optional<IdleConnections::Kept> IdleConnections::take(const Key& key) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (!((*it)->key == key)) continue;
        // A close not yet seen by the watcher shows as an error of the exchange, which
        // nginx (and ngxlite) then tries again on a fresh connection.
        std::shared_ptr<Entry> e = *it;
        entries_.erase(it);
        e->owner = nullptr;
        e->expiry.disarm();
        boost::system::error_code ec;
        e->stream->socket().cancel(ec);
        return Kept{std::move(e->stream), e->requests, e->opened};
    }
    return std::nullopt;
}

void IdleConnections::put(Kept kept, Key key) {
    if (std::chrono::steady_clock::now() - kept.opened > max_age_) {
        kept.stream->timed().close();
        return;
    }
    if (entries_.size() >= capacity_) drop(entries_.back());
    auto e = std::make_shared<Entry>(std::move(kept), std::move(key), timers_);
    e->self = e;
    e->owner = this;
    entries_.push_front(e);
    // Readable while idle: the upstream closed it (a TLS one may send close_notify
    // first) or sent what nobody asked for. A peek, not a wait for readable, which would
    // re-arm the socket in epoll on every request (the stream's own deadline stays out:
    // the entry's expiry times it).
    e->stream->socket().async_receive(asio::buffer(&e->peeked, 1), tcp::socket::message_peek,
                                      [e](const boost::system::error_code& ec, std::size_t) {
        if (ec == asio::error::operation_aborted || !e->owner) return;
        e->owner->drop(e);
    });
    e->expiry.arm(timeout_);
}

// --- per worker thread ----------------------------------------------------------------------

std::shared_ptr<UpstreamState> upstream_state(const std::vector<ir::UpstreamGroup>& groups, std::size_t group_index,
                                              TimerTree& timers) {
    // The config's http groups and its stream groups, each found by its list's address.
    thread_local std::array<std::pair<const void*, std::vector<std::shared_ptr<UpstreamState>>>, 2> lists;
    auto* list = lists[0].first == &groups || !lists[0].first ? &lists[0] : &lists[1];
    if (!list->first) {
        list->first = &groups;
        list->second.resize(groups.size());
    }
    auto& slot = list->second.at(group_index);
    if (!slot) slot = std::make_shared<UpstreamState>(groups[group_index], timers);
    return slot;
}

std::optional<HostPort> split_host_port(std::string_view text) {
    HostPort split{text};
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(']', colon) != std::string_view::npos) return split;
    const std::string_view digits = text.substr(colon + 1);
    int port = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || port < 1 || port > 65535)
        return std::nullopt;
    return HostPort{text.substr(0, colon), static_cast<std::uint16_t>(port), false};
}

const ir::UpstreamGroup* runtime_upstream(const std::vector<ir::UpstreamGroup>& groups, std::string_view host,
                                          std::uint16_t port, bool no_port, std::string_view name,
                                          std::optional<ir::UpstreamGroup>& literal) {
    for (const auto& g : groups)
        if (iequal(g.name, host) && ((g.port == 0 && no_port) || (g.port != 0 && g.port == port))) return &g;
    boost::system::error_code ec;
    const std::string bare(host.starts_with("[") ? host.substr(1, host.size() - 2) : host);
    const auto address = asio::ip::make_address(bare, ec);
    if (ec) return nullptr;
    ir::UpstreamGroup g;
    g.name = std::string(name);
    ir::UpstreamServer server;
    server.name = g.name;
    server.endpoints.push_back({address.to_string(), port, address.is_v6()});
    g.servers.push_back(std::move(server));
    literal = std::move(g);
    return &*literal;
}

UnixTarget unix_upstream(std::string_view url, bool with_uri, std::optional<ir::UpstreamGroup>& literal) {
    UnixTarget t;
    std::string_view path = url.substr(5);
    if (with_uri)
        if (const auto colon = path.find(':'); colon != std::string_view::npos) {
            t.uri = std::string(path.substr(colon + 1));
            path = path.substr(0, colon);
        }
    sockaddr_un address;
    if (path.empty() || !unix_address(std::string(path), address)) {
        t.error = path.empty() ? "no path in the unix domain socket" : "too long path in the unix domain socket";
        return t;
    }
    ir::UpstreamServer server;
    server.endpoints.push_back({std::string(path), 0, false, true});
    server.name = server.endpoints[0].text();
    ir::UpstreamGroup g;
    g.name = server.name;
    g.servers.push_back(std::move(server));
    literal = std::move(g);
    return t;
}

ir::UpstreamGroup resolved_group(std::string_view host, std::uint16_t port, const std::vector<asio::ip::address>& addrs) {
    ir::UpstreamGroup g;
    g.name = std::string(host);  // lowercased, as nginx's resolver leaves the host it names the peers by
    for (char& c : g.name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ir::UpstreamServer server;
    server.name = g.name;
    for (const auto& a : addrs) server.endpoints.push_back({a.to_string(), port, a.is_v6()});
    g.servers.push_back(std::move(server));
    return g;
}

std::string resolver_name(std::string_view host) {
    std::string name(host);
    if (!name.empty() && name.back() == '.') name.pop_back();
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return name;
}

std::string balancer_key(const ir::UpstreamGroup& g, const RequestContext& ctx) {
    if (g.balancer == ir::Balancer::ip_hash) {
        if (ctx.remote_addr().starts_with("unix:")) return std::string(3, '\0');
        boost::system::error_code ec;
        const auto a = asio::ip::make_address(ctx.remote_addr(), ec);
        if (ec) return {};
        if (a.is_v4()) {
            const auto b = a.to_v4().to_bytes();
            return std::string(reinterpret_cast<const char*>(b.data()), 3);
        }
        const auto b = a.to_v6().to_bytes();
        return std::string(reinterpret_cast<const char*>(b.data()), b.size());
    }
    if (g.balancer == ir::Balancer::hash || g.balancer == ir::Balancer::hash_consistent) return expand(g.hash_key, ctx);
    return {};
}

}  // namespace ngxlite::runtime
