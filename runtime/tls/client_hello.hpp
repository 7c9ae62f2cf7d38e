// What ngx_stream_ssl_preread reads from a client's first bytes without ending its TLS:
// the ClientHello's protocol, SNI name and ALPN list, for $ssl_preread_* and routing.
#pragma once

#include <string>
#include <string_view>

namespace ngxlite::runtime {

// nginx's preread context: what is found so far, even of a ClientHello not yet whole.
struct ClientHello {
    unsigned char version[2] = {0, 0};  // the legacy version, or 3.4 once supported_versions is seen
    std::string server_name;            // $ssl_preread_server_name
    std::string alpn_protocols;         // $ssl_preread_alpn_protocols: "h2,http/1.1"

    // $ssl_preread_protocol in SSL_get_version()'s words; empty for a version it has none for.
    std::string_view protocol() const;
};

enum class PrereadStatus {
    need_more,  // a record or the ClientHello is not complete yet
    parsed,     // the ClientHello (or an SSLv2 one's version) is read
    not_tls,    // not a TLS ClientHello nginx can read: the variables are not found
};

// Parses `data` (everything the client sent so far) as nginx 1.22 does: whole TLS records
// of type handshake, the ClientHello possibly spread over several, the first server_name
// (0) and ALPN (16) extensions, and supported_versions (43), whose presence means TLSv1.3.
// `hello` holds what was found, also when more is needed.
PrereadStatus parse_client_hello(std::string_view data, ClientHello& hello);

}  // namespace ngxlite::runtime
