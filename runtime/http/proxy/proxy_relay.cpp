#include "runtime/http/proxy/proxy_relay.hpp"

#include "runtime/http/proxy/upstream_response.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <tuple>
#include <vector>

namespace ngxlite::runtime {

namespace {

constexpr std::size_t kMaxSpares = 16;  // 1 MiB a worker at most

std::vector<std::unique_ptr<char[]>>& spares() {
    thread_local std::vector<std::unique_ptr<char[]>> kept;
    return kept;
}

// What one read or write moved (a struct: awaitable operators flatten tuples).
struct Transfer {
    boost::system::error_code ec;
    std::size_t bytes = 0;
};

// One read of up to `size` bytes, bounded by `timeout`.
Task<Transfer> read_chunk(TransportStream& from, char* into, std::size_t size, ir::Msec timeout) {
    from.expires_after(timeout);
    auto [ec, n] = co_await from.async_read_some(asio::buffer(into, size), use_tuple);
    co_return Transfer{ec, n};
}

// All of `size` bytes written, each write bounded by `timeout`.
Task<Transfer> write_chunk(TransportStream& to, const char* from, std::size_t size, ir::Msec timeout) {
    to.expires_after(timeout);
    auto [ec, n] = co_await asio::async_write(to, asio::buffer(from, size), use_tuple);
    co_return Transfer{ec, n};
}

// One read of the body from the upstream, counted.
Task<Transfer> read_upstream(Relay& relay, char* into, std::size_t size) {
    const Transfer read = co_await read_chunk(relay.upstream, into, size, relay.read_timeout);
    relay.received += read.bytes;
    co_return read;
}

RelayEnd upstream_failed(const boost::system::error_code& ec) {
    return {RelayEnd::Kind::upstream_failed, ec};
}

// One direction of an upgraded connection; the other is cancelled when it ends.
Task<void> pump(TransportStream& from, TransportStream& to, ir::Msec idle, std::uint64_t* counted) {
    std::array<char, 16384> chunk;
    for (;;) {
        const Transfer read = co_await read_chunk(from, chunk.data(), chunk.size(), idle);
        if (read.bytes > 0) {
            const Transfer written = co_await write_chunk(to, chunk.data(), read.bytes, idle);
            if (counted) *counted += written.bytes;
            if (written.ec) co_return;
        }
        if (read.ec) co_return;
    }
}

}  // namespace

BodyBuffer::BodyBuffer(std::size_t size) : size_(std::max(size, kSize)) {
    auto& kept = spares();
    if (size_ > kSize || kept.empty()) {
        memory_ = std::make_unique_for_overwrite<char[]>(size_);
    } else {
        memory_ = std::move(kept.back());
        kept.pop_back();
    }
}

BodyBuffer::~BodyBuffer() {
    auto& kept = spares();
    if (size_ == kSize && kept.size() < kMaxSpares) kept.push_back(std::move(memory_));
}

Task<RelayEnd> relay_length(Relay& relay, char* buffer, std::uint64_t left) {
    using namespace asio::experimental::awaitable_operators;
    constexpr std::size_t size = BodyBuffer::kSize;
    const auto next_size = [&] { return static_cast<std::size_t>(std::min<std::uint64_t>(size, left)); };
    std::optional<BodyBuffer> second;  // once a second read is due
    char* spare = nullptr;
    Transfer read = co_await read_upstream(relay, buffer, next_size());
    while (read.bytes > 0) {
        left -= read.bytes;
        boost::system::error_code write_ec;  // a failed write to the client ends the relay
        Transfer next;
        if (left > 0 && !read.ec) {
            if (!spare) spare = second.emplace().data();
            std::tie(write_ec, next) = co_await (relay.client.write({buffer, read.bytes}, false) && read_upstream(relay, spare, next_size()));
        } else {
            write_ec = co_await relay.client.write({buffer, read.bytes}, left == 0);
            next.ec = read.ec;  // the end, or why the rest is missing
        }
        if (write_ec) co_return RelayEnd{RelayEnd::Kind::client_failed, {}};
        std::swap(buffer, spare);
        read = next;
    }
    if (left > 0) co_return upstream_failed(read.ec);
    co_return RelayEnd{};
}

Task<RelayEnd> relay_chunked(Relay& relay, char* buffer, ChunkedParser& parser) {
    for (;;) {
        const Transfer read = co_await read_upstream(relay, buffer, BodyBuffer::kSize);
        if (read.bytes == 0) co_return upstream_failed(read.ec);
        const Dechunked d = dechunk(parser, buffer, read.bytes);
        // nginx sends nothing of a read whose framing broke.
        if (d.status == Dechunked::Status::invalid) co_return RelayEnd{RelayEnd::Kind::invalid_chunked, {}};
        const bool last = d.status == Dechunked::Status::done;
        if (co_await relay.client.write({buffer, d.data}, last)) co_return RelayEnd{RelayEnd::Kind::client_failed, {}};
        if (last) co_return RelayEnd{d.after_last ? RelayEnd::Kind::after_last : RelayEnd::Kind::complete, {}};
    }
}

Task<RelayEnd> relay_until_close(Relay& relay, char* buffer) {
    for (;;) {
        const Transfer read = co_await read_upstream(relay, buffer, BodyBuffer::kSize);
        if (read.bytes == 0) {
            if (read.ec != asio::error::eof) co_return upstream_failed(read.ec);
            if (co_await relay.client.write({buffer, 0}, true)) co_return RelayEnd{RelayEnd::Kind::client_failed, {}};
            co_return RelayEnd{};
        }
        if (co_await relay.client.write({buffer, read.bytes}, false))
            co_return RelayEnd{RelayEnd::Kind::client_failed, {}};
    }
}

Task<RelayEnd> relay_held(Relay& relay, char* buffer, HeldBody held) {
    std::size_t full = held.first_size;
    for (;;) {
        std::size_t room = held.capacity - held.filled;
        if (held.left) room = static_cast<std::size_t>(std::min<std::uint64_t>(room, *held.left));
        const Transfer read = co_await read_upstream(relay, buffer + held.filled, room);
        held.filled += read.bytes;
        if (held.left) *held.left -= read.bytes;
        const bool end = held.left ? *held.left == 0 : read.bytes == 0 && read.ec == asio::error::eof;
        const bool failed = !end && read.bytes == 0;
        // A timed-out upstream's bytes stay (nginx finalizes at once, flushing only the
        // head); a closed or failed one's go (its event pipe flushes them).
        if (failed && read.ec == beast::error::timeout) held.filled = 0;
        // Whole buffers go; the rest waits at the buffer's start for the next read.
        std::size_t out = held.filled;
        if (!end && !failed) out = held.filled < full ? 0 : full + (held.filled - full) / held.size * held.size;
        if (out > 0 || end || failed) {
            if (co_await relay.client.write({buffer, out}, end)) co_return RelayEnd{RelayEnd::Kind::client_failed, {}};
            if (out > 0) full = held.size;
            held.filled -= out;
            std::memmove(buffer, buffer + out, held.filled);
        }
        if (end) co_return RelayEnd{};
        if (failed) co_return upstream_failed(read.ec);
    }
}

Task<void> tunnel(TransportStream& client, TransportStream& upstream, ir::Msec idle, SentBytes& sent) {
    using namespace asio::experimental::awaitable_operators;
    std::uint64_t to_client = 0;
    co_await (pump(client, upstream, idle, nullptr) || pump(upstream, client, idle, &to_client));
    sent.total += to_client;
    sent.body += to_client;
}

}  // namespace ngxlite::runtime
