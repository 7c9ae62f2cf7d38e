// What the runtime's coroutines share: the Boost namespaces they name, and the completion
// token that returns an operation's error with its result instead of throwing.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

namespace ngxlite::runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

}  // namespace ngxlite::runtime
