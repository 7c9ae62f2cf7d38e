// nginx's value syntax, which the runtime reads too (values with variables): defined in
// parser/ir/values.hpp and named here for the compiler's setters.
#pragma once

#include "parser/ir/values.hpp"

namespace ngxlite::conf {

using ir::iequals;
using ir::parse_fixed_point;
using ir::parse_number;
using ir::parse_offset;
using ir::parse_size;
using ir::parse_time;

}  // namespace ngxlite::conf
