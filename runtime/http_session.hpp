// One HTTP/1.x connection: read a request, route it, answer, keep alive, as nginx.
#pragma once

#include "runtime/active_config.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>

namespace ngxlite::runtime {

boost::asio::awaitable<void> serve_http(boost::asio::ip::tcp::socket socket,
                                        std::shared_ptr<const ActiveConfig> config, std::uint64_t connection_id);

// nginx's status texts and its built-in error page for `status`.
const char* status_text(int status);
std::string error_page(int status, bool server_tokens);

// nginx's URI normalisation (ngx_http_parse_complex_uri): percent-decoding, merging
// slashes, resolving "." and ".."; nullopt where nginx answers 400.
std::optional<std::string> normalize_uri(std::string_view path, bool merge_slashes);

}  // namespace ngxlite::runtime
