// The bytes of a proxied exchange after the response head: the body relayed from the
// upstream to the client (Content-Length, chunked or up to the close, re-chunked for the
// client when its length is unknown) and the tunnel of an upgraded connection.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/http/filters/body_filter.hpp"
#include "runtime/http/http_parse.hpp"
#include "runtime/core/net.hpp"
#include "runtime/io/transport_stream.hpp"

#include <cstddef>
#include <cstdint>
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

// The two ends of a body relay: the upstream, read within proxy_read_timeout, and the
// client's body filters.
struct Relay {
    BodyFilters& client;
    TransportStream& upstream;
    ir::Msec read_timeout;
    std::uint64_t received = 0;  // read from the upstream ($upstream_bytes_received)
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
// only once it is full or the body has ended (the head goes with the first one).
struct HeldBody {
    std::size_t filled = 0;         // body bytes already at the buffer's start
    std::size_t first_size = 1;     // what fills the first buffer (proxy_buffer_size less the upstream head)
    std::size_t size = 1;           // what fills each later one (proxy_buffers' size)
    std::size_t capacity = 0;       // the buffer's size
    std::optional<std::uint64_t> left;  // the body's bytes still to come; none: up to the close
};

// The rest of a Content-Length body, `left` bytes, read into `buffer` (and a second one,
// the next read running while the last is written). A chunked client's body goes a read
// at a time.
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
