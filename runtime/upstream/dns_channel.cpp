// A resolver's name server through c-ares, its sockets and timeouts on the worker's
// io_context and timer tree.
#include "runtime/upstream/dns_channel.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <poll.h>

#include <cstring>
#include <mutex>

namespace ngxlite::runtime {

namespace {

// How long c-ares waits for an answer to one query. nginx sends the same query (the same
// ident) again every 5 seconds while someone waits, and a late answer to an earlier send
// still counts: c-ares keeps each query that long, and the resolver sends again itself.
constexpr int kAresTimeoutMs = 30000;

ares_addr_port_node server_node(const ir::Endpoint& server) {
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
    return node;
}

}  // namespace

// A socket c-ares asked to be watched.
struct DnsChannel::Watch {
    explicit Watch(WorkerExecutor ex, int fd) : descriptor(ex, fd) {}
    boost::asio::posix::basic_stream_descriptor<WorkerExecutor> descriptor;
    bool want_read = false, want_write = false, reading = false, writing = false, closed = false;
};

DnsChannel::DnsChannel(WorkerExecutor executor, TimerTree& timers, const ir::Endpoint& server)
    : executor_(executor), name_(server.text()), timer_(timers, *this) {
    static std::once_flag library;
    std::call_once(library, [] { ares_library_init(ARES_LIB_INIT_ALL); });
    ares_options o{};
    // Every answer comes back here as it came (nginx reads SERVFAIL and the rest itself),
    // no search list, no aliases; sockets stay open as nginx's do.
    o.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_STAYOPEN;
    o.timeout = kAresTimeoutMs;
    o.tries = 1;
    o.sock_state_cb = &DnsChannel::sock_state;
    o.sock_state_cb_data = this;
    const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
    if (ares_init_options(&ares_, &o, mask) != ARES_SUCCESS) {
        ares_ = nullptr;
        return;
    }
    ares_addr_port_node node = server_node(server);
    ares_set_servers_ports(ares_, &node);
}

DnsChannel::~DnsChannel() {
    closing_ = true;
    if (ares_) ares_destroy(ares_);
    for (auto& [fd, w] : watches_) {  // c-ares has closed them
        w->closed = true;
        w->descriptor.release();
    }
}

void DnsChannel::sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto& c = *static_cast<DnsChannel*>(data);
    if (!readable && !writable) {
        const auto it = c.watches_.find(fd);
        if (it == c.watches_.end()) return;
        it->second->closed = true;
        it->second->descriptor.release();  // c-ares closes it
        c.watches_.erase(it);
        return;
    }
    auto& w = c.watches_[fd];
    if (!w) w = std::make_shared<Watch>(c.executor_, fd);
    w->want_read = readable != 0;
    w->want_write = writable != 0;
    c.arm(w, fd);
}

void DnsChannel::arm(const std::shared_ptr<Watch>& w, int fd) {
    if (closing_) return;
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

void DnsChannel::process(ares_socket_t read_fd, ares_socket_t write_fd) {
    ares_process_fd(ares_, read_fd, write_fd);
    update_timer();
}

void DnsChannel::update_timer() {
    timeval tv{};
    if (closing_ || !ares_timeout(ares_, nullptr, &tv)) {
        timer_.disarm();
        return;
    }
    timer_.arm(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec) + std::chrono::milliseconds(1));
}

void DnsChannel::send(const std::string& query, ares_callback answered, void* arg) {
    ares_send(ares_, reinterpret_cast<const unsigned char*>(query.data()), static_cast<int>(query.size()), answered, arg);
    update_timer();
}

}  // namespace ngxlite::runtime
