// What the runtime's coroutines share: the Boost namespaces they name, and the completion
// token that returns an operation's error with its result instead of throwing.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>

namespace ngxlite::runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// Coroutines run on their worker's io_context. Naming its executor, not the type-erased
// any_io_executor, lets an operation's completion resume them without an allocation.
using WorkerExecutor = asio::io_context::executor_type;
template <class T = void>
using Task = asio::awaitable<T, WorkerExecutor>;
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable_t<WorkerExecutor>{});

}  // namespace ngxlite::runtime
