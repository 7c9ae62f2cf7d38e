// What build_http.cpp's steps share: a location merged with everything nested in it, its
// proxy module merge, and the duplicate location check.
#pragma once

#include "parser/compiler.hpp"
#include "parser/merge.hpp"

#include <string>

namespace ngxlite::conf {

// The merges of a location and everything nested in it, in config order; `inherited_pass`:
// the proxy_pass an `if` or limit_except block inherits from its location.
void merge_locations(Compiler& c, const Scope& s, ir::Location& loc, const Directive* inherited_pass);
// The proxy module's settings of a location whose proxy_pass is `pass`.
ir::ProxySettings merge_proxy(Compiler& c, const Scope& s, const Directive& pass, const std::string& location_name);
// nginx's ngx_http_init_static_location_trees + join_exact_locations: "duplicate location".
void check_duplicate_locations(const Block& b);

}  // namespace ngxlite::conf
