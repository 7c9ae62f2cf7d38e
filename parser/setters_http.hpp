// What the http setters' files share: the variables of the current context, a location's
// match and name, and each file's registration (register_http_setters calls them).
#pragma once

#include "parser/setters.hpp"
#include "parser/variables.hpp"

#include <string>

namespace ngxlite::conf {

bool in_stream(const Compiler& c);
// split_clients, include, map and the log module are shared with stream: pick by context.
VariableScope& vars(Compiler& c);

struct LocationName {
    ir::LocationMatch match = ir::LocationMatch::prefix;
    std::string name;
};
// A location's modifier and name; a regex is compiled now and its named captures defined.
LocationName location_name(Compiler& c, const Directive& d);
bool is_regex(ir::LocationMatch m);

void register_http_rewrite_setters(SetterTable& t);
void register_http_upstream_setters(SetterTable& t);
void register_http_log_setters(SetterTable& t);
void register_http_gzip_setters(SetterTable& t);
void register_http_ssl_setters(SetterTable& t);
void register_http_limit_setters(SetterTable& t);

}  // namespace ngxlite::conf
