// What every response of the HTTP server shares: status texts and nginx's error pages,
// the Date and Server values, absolute redirects, trailers, and the tail
// nginx adds to a request's error-log lines.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/http/request.hpp"

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace ngxlite::runtime {

// An HTTP date ("Wed, 25 Nov 2026 01:00:00 GMT"), valid until the thread's next call.
std::string_view http_date(std::time_t t);
// The Server header's value.
std::string server_header(bool tokens);
// A redirect target as nginx sends it (absolute_redirect on): a relative one gets
// "http://host[:port]" in front, the host being the request's or the server's name.
std::string absolute_redirect(std::string_view uri, const RequestContext& ctx);
// The error-log tail nginx adds: ", client: A, server: S, request: "R"[, upstream: "U"], host: "H"".
std::string describe(const RequestContext& ctx, std::string_view upstream = {});

// add_trailer: whether one applies to an answer of `status` (nginx's expect_trailers).
bool expects_trailers(const ir::Location& loc, int status);
// The headers module's trailers, evaluated once the body is out, as nginx's trailers
// filter: "Name: value\r\n" each, empty values left out; $sent_trailer_* noted.
std::string trailer_block(const ir::Location& loc, RequestContext& ctx, int status);

// nginx's status texts and its built-in error page for `status`.
const char* status_text(int status);
std::string error_page(int status, bool server_tokens);

}  // namespace ngxlite::runtime
