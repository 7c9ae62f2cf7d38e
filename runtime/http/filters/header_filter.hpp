// nginx's last header filters, whatever produced the answer (static, return, an error
// page, the proxy): the chunked filter's decision and the header filter
// (ngx_http_header_filter_module) writing the status line and headers in its order.
#pragma once

#include "parser/ir/config.hpp"
#include "runtime/http/filters/response_head.hpp"
#include "runtime/http/request.hpp"

#include <ctime>
#include <string>

namespace ngxlite::runtime {

// The chunked filter: an answer of unknown length, or one add_trailer applies to, goes
// chunked to an HTTP/1.1 client (with chunked_transfer_encoding); an unknown length
// otherwise ends the connection after it. False: the connection closes.
bool chunked_filter(ResponseHead& r, bool length_unknown, const ir::Location& loc, const Request& req);

// The status line and headers, in nginx's order.
std::string serialize_head(const ResponseHead& r, bool keep_alive, const ir::Location& loc, std::time_t now);

}  // namespace ngxlite::runtime
