// The bytes of a proxied exchange after the response head: the body relayed from the
// upstream to the client (Content-Length, chunked or up to the close, re-chunked for the
// client when its length is unknown) and the tunnel of an upgraded connection.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/http/http_parse.hpp"
#include "runtime/core/net.hpp"
#include "runtime/io/transport_stream.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

// A buffer for a response, kept by the worker thread between requests: glibc gives a
// freed 64 KiB one back to the kernel (madvise) and the next request faulted its pages in
// again, which cost more than the copy through them. A larger one (a proxy_buffer_size
// above 64 KiB, for the head) is the request's own.
class BodyBuffer {
public:
    static constexpr std::size_t kSize = 65536;
    explicit BodyBuffer(std::size_t size = kSize);
    ~BodyBuffer();
    BodyBuffer(const BodyBuffer&) = delete;
    BodyBuffer& operator=(const BodyBuffer&) = delete;
    char* data() const { return memory_.get(); }
    std::size_t size() const { return size_; }

private:
    std::size_t size_;
    std::unique_ptr<char[]> memory_;
};

// What went to the client, counted as nginx's $bytes_sent and $body_bytes_sent.
struct SentBytes {
    std::uint64_t total = 0;
    std::uint64_t body = 0;
};

// The two ends of a body relay and their timeouts.
struct Relay {
    TransportStream& client;
    TransportStream& upstream;
    ir::Msec send_timeout;  // the location's send_timeout, for each write to the client
    ir::Msec read_timeout;  // proxy_read_timeout, for each read from the upstream
    SentBytes& sent;
    bool client_chunked = false;  // the client gets the body in chunks of its own
    std::uint64_t received = 0;   // read from the upstream ($upstream_bytes_received)
    // add_trailer's block for a chunked client, evaluated as the last chunk goes.
    std::function<std::string()> trailers = {};
};

struct RelayEnd {
    enum class Kind {
        complete,         // the whole body went to the client
        after_last,       // complete, but the upstream sent bytes after the last chunk
        client_failed,    // a write to the client failed
        upstream_failed,  // the upstream closed or failed (`error`) before the body's end
        invalid_chunked,  // the chunked framing broke
    } kind = Kind::complete;
    boost::system::error_code error;
};

// What a relay with proxy_buffering on holds back: nginx's event pipe passes a buffer on
// only once it is full or the body has ended, and the head waits with the first one.
struct HeldBody {
    std::string_view head;          // the client's head, not sent yet
    std::size_t filled = 0;         // body bytes already at the buffer's start
    std::size_t first_size = 1;     // what fills the first buffer (proxy_buffer_size less the upstream head)
    std::size_t size = 1;           // what fills each later one (proxy_buffers' size)
    std::size_t capacity = 0;       // the buffer's size
    std::optional<std::uint64_t> left;  // the body's bytes still to come; none: up to the close
};

// Writes the head (may be empty) and `size` bytes of body at `data` in one write, framed
// as a chunk for a chunked client (the last chunk after it when `last`). False when the
// write failed.
Task<bool> send_head_and_body(Relay& relay, std::string_view head, const char* data, std::size_t size, bool last);

// The rest of a Content-Length body, `left` bytes, read into `buffer` (and a second one,
// the next read running while the last is written).
Task<RelayEnd> relay_length(Relay& relay, char* buffer, std::uint64_t left);
// The rest of a chunked body, `parser` where the bytes before left it.
Task<RelayEnd> relay_chunked(Relay& relay, char* buffer, ChunkedParser& parser);
// The rest of a body that ends when the upstream closes.
Task<RelayEnd> relay_until_close(Relay& relay, char* buffer);
// The rest of a body of known length or up to the close, a full buffer at a time.
Task<RelayEnd> relay_held(Relay& relay, char* buffer, HeldBody held);

// nginx's ngx_http_upstream_process_upgraded: both directions until one side closes or
// stays silent for `idle`; bytes to the client are counted.
Task<void> tunnel(TransportStream& client, TransportStream& upstream, ir::Msec idle, SentBytes& sent);

}  // namespace ngxlite::runtime
