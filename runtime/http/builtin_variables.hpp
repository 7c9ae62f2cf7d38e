// nginx's built-in variables as the runtime serves them, by their row in
// ir::kBuiltinVariables: the parser resolved each name a script reads to its row once,
// at load time (parser/ir/variables.hpp), and the getters are placed by row when this
// builds, every name checked against nginx's table.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

struct RequestContext;

// `found` is true when called; a getter makes it false for a value that is not found.
using BuiltinGetter = std::string (*)(const RequestContext&, bool& found);
// A prefix family's ($http_*, $arg_*, ...): `suffix` is the rest of the name.
using PrefixedGetter = std::string (*)(const RequestContext&, std::string_view suffix, bool& found);

// A row's getter; null for a variable the runtime does not serve (never found).
BuiltinGetter builtin_getter(std::size_t row);
PrefixedGetter prefixed_getter(std::size_t row);

}  // namespace ngxlite::runtime
