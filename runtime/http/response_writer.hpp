// A handler's answer in a Response sent through the body filters: its head, then the
// body's memory and file parts.
#pragma once

#include "runtime/core/active_config.hpp"
#include "runtime/core/net.hpp"
#include "runtime/http/handlers.hpp"
#include "runtime/io/transport_stream.hpp"

#include <string>

namespace ngxlite::runtime {

// Writes an answer: the head, then the body (memory and file parts; chunked when the
// answer is), then the last chunk with the trailers. Counts what went out in ctx.
Task<boost::system::error_code> send_response(TransportStream& stream, RequestContext& ctx, Response& resp,
                                               const ir::Location& loc, const std::string& head, bool with_body,
                                               const ActiveConfig& cfg);

}  // namespace ngxlite::runtime
