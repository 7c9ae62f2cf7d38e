#pragma once

#include <string>
#include <string_view>

namespace ngxlite::grammar {

// nginx's argument unescaping: \" \' \\ give the character, \t \r \n the control
// character; any other backslash is kept as it is.
std::string unescape(std::string_view raw);

}  // namespace ngxlite::grammar
