// `-t` binds every listening address once, as nginx does, so that an address the
// machine does not have fails the test (EADDRINUSE is ignored while testing, as in nginx).
#pragma once

#include "parser/ir/config.hpp"

#include <optional>
#include <string>

namespace ngxlite::tools {

// The first bind error as nginx words it ("bind() to 1.2.3.4:80 failed (99: ...)").
std::optional<std::string> test_listeners(const ir::Config& config);

}  // namespace ngxlite::tools
