// `ngxlite -T --json`: the parsed configuration in crossplane's JSON format
// ({"status","errors","config":[{"file","status","errors","parsed":[...]}]}).
#pragma once

#include "parser/load.hpp"

#include <string>

namespace ngxlite::tools {

std::string config_json(const conf::LoadResult& result);

}  // namespace ngxlite::tools
