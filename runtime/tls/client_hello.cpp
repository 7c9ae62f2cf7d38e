#include "runtime/tls/client_hello.hpp"

#include <cstdint>

namespace ngxlite::runtime {

namespace {

std::size_t big_endian(std::string_view bytes) {
    std::size_t v = 0;
    for (unsigned char c : bytes) v = v << 8 | c;
    return v;
}

// The ClientHello read field by field as ngx_stream_ssl_preread_parse_record: a field
// that runs past the message's length declines at once ("failed to parse handshake"),
// even before its bytes are here; one whose bytes are not here yet waits for more.
class HelloReader {
public:
    explicit HelloReader(std::string_view data) : data_(data) {}
    PrereadStatus stop() const { return stop_; }
    std::size_t left() const { return left_; }
    void set_left(std::size_t n) { left_ = n; }
    bool take(std::size_t n, std::string_view& out) {
        if (left_ < n) {
            stop_ = PrereadStatus::not_tls;
            return false;
        }
        if (data_.size() < n) return false;
        out = data_.substr(0, n);
        data_.remove_prefix(n);
        left_ -= n;
        return true;
    }
    bool skip(std::size_t n) {
        std::string_view ignored;
        return take(n, ignored);
    }
    // A length field of `width` bytes, then that many bytes skipped.
    bool skip_part(std::size_t width) {
        std::string_view length;
        return take(width, length) && skip(big_endian(length));
    }

private:
    std::string_view data_;
    std::size_t left_ = 4;  // the message header first
    PrereadStatus stop_ = PrereadStatus::need_more;
};

// The handshake bytes of the whole records so far.
PrereadStatus parse_handshake(std::string_view data, ClientHello& hello) {
    HelloReader r(data);
    std::string_view f;
    if (!r.take(4, f)) return r.stop();
    if (f[0] != 1) return PrereadStatus::not_tls;  // not a ClientHello
    r.set_left(big_endian(f.substr(1)));
    if (!r.take(2, f)) return r.stop();
    hello.version[0] = static_cast<unsigned char>(f[0]);
    hello.version[1] = static_cast<unsigned char>(f[1]);
    if (!r.skip(32) || !r.skip_part(1) || !r.skip_part(2) || !r.skip_part(1)) return r.stop();  // random, session id, ciphers, compression
    if (r.left() == 0) return PrereadStatus::parsed;
    if (!r.skip(2)) return r.stop();  // the extensions' length: nginx reads to the message's end instead
    bool sni_seen = false, alpn_seen = false;
    while (r.left() != 0) {
        if (!r.take(4, f)) return r.stop();
        const std::size_t type = big_endian(f.substr(0, 2));
        if (type == 0 && !sni_seen) {  // the list's first entry, a DNS name, else declined
            sni_seen = true;
            if (!r.take(2, f)) return r.stop();
            std::size_t list = big_endian(f);
            if (!r.take(3, f)) return r.stop();
            const std::size_t length = big_endian(f.substr(1));
            if (f[0] != 0 || list < 3 + length) return PrereadStatus::not_tls;
            list -= 3 + length;
            if (!r.take(length, f)) return r.stop();
            hello.server_name = std::string(f);
            if (!r.skip(list)) return r.stop();
        } else if (type == 16 && !alpn_seen) {  // every protocol, comma-separated; an empty one declines
            alpn_seen = true;
            if (!r.take(2, f)) return r.stop();
            std::size_t list = big_endian(f);
            do {
                if (!r.take(1, f)) return r.stop();
                const std::size_t length = big_endian(f);
                if (length == 0 || list < 1 + length) return PrereadStatus::not_tls;
                list -= 1 + length;
                if (!r.take(length, f)) return r.stop();
                hello.alpn_protocols += f;
                if (list != 0) hello.alpn_protocols += ',';
            } while (list != 0);
        } else if (type == 43) {  // supported_versions: nginx takes it as TLSv1.3, whatever it lists
            hello.version[0] = 3;
            hello.version[1] = 4;
            if (!r.skip_part(1)) return r.stop();
        } else if (!r.skip(big_endian(f.substr(2)))) {
            return r.stop();
        }
    }
    return PrereadStatus::parsed;
}

}  // namespace

std::string_view ClientHello::protocol() const {
    if (version[0] == 0) return version[1] == 2 ? "SSLv2" : "";
    static constexpr std::string_view names[] = {"SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};
    return version[0] == 3 && version[1] < 5 ? names[version[1]] : "";
}

PrereadStatus parse_client_hello(std::string_view data, ClientHello& hello) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(data[i]); };
    hello = {};
    std::string handshake;  // the records' payloads, their headers taken off
    std::size_t pos = 0;
    while (data.size() - pos >= 5) {
        if ((byte(pos) & 0x80) && byte(pos + 2) == 1 && (byte(pos + 3) == 0 || byte(pos + 3) == 3)) {
            hello.version[0] = byte(pos + 3);  // an SSLv2-compatible ClientHello: its version only
            hello.version[1] = byte(pos + 4);
            return PrereadStatus::parsed;
        }
        if (byte(pos) != 0x16 || byte(pos + 1) != 3) return PrereadStatus::not_tls;
        const std::size_t length = big_endian(data.substr(pos + 3, 2));
        if (data.size() - pos - 5 < length) break;  // nginx parses whole records only
        handshake.append(data.substr(pos + 5, length));
        pos += 5 + length;
        hello = {};
        const PrereadStatus status = parse_handshake(handshake, hello);
        if (status != PrereadStatus::need_more) return status;
    }
    return PrereadStatus::need_more;
}

}  // namespace ngxlite::runtime
