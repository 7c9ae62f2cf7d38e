// `listen ... udp` in stream {}, as nginx 1.22: a datagram from a client address with no
// session starts one (its upstream chosen by the group's balancer, one connected socket to
// it); later datagrams from that address go to the same session until proxy_requests of
// them have come (then the next starts a new one). The session ends once proxy_responses
// per datagram sent came back, or when proxy_timeout passes with nothing moving.
#pragma once

#include "runtime/core/worker_state.hpp"

#include <boost/asio/ip/udp.hpp>

#include <atomic>
#include <map>
#include <memory>

namespace ngxlite::runtime {

using UdpSocket = asio::basic_datagram_socket<asio::ip::udp, WorkerExecutor>;
struct UdpSession;

// One worker thread's reader of a UDP listening socket (a dup() of it) and its sessions.
class UdpListener {
public:
    UdpListener(WorkerState& worker, asio::io_context& ctx, int fd, const ir::Listen& listen,
                std::atomic<std::uint64_t>& connection_numbers);
    ~UdpListener();
    UdpListener(const UdpListener&) = delete;
    UdpListener& operator=(const UdpListener&) = delete;

    // QUIT or TERM: no more datagrams; the sessions end ("disconnected on shutdown").
    void close();

private:
    friend struct UdpSession;
    Task<void> receive_loop();

    WorkerState& worker_;
    std::shared_ptr<UdpSocket> socket_;
    std::atomic<std::uint64_t>& connection_numbers_;
    ir::Endpoint local_;
    // The sessions datagrams still reach, by client address (nginx's udp rbtree).
    std::map<asio::ip::udp::endpoint, std::shared_ptr<UdpSession>> sessions_;
};

}  // namespace ngxlite::runtime
