// nginx's value syntax: numbers, sizes ("8k", "1m"), offsets ("1g"), times ("1h 30m",
// "500ms"). Each returns nullopt where nginx returns NGX_ERROR.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ngxlite::ir {

std::optional<std::int64_t> parse_number(std::string_view s);  // ngx_atoi: digits only
// ngx_atofp: a decimal with at most `point` digits after the dot, times 10^point ("1.5", 2: 150).
std::optional<std::int64_t> parse_fixed_point(std::string_view s, int point);
std::optional<std::int64_t> parse_size(std::string_view s);    // k, m suffixes
std::optional<std::int64_t> parse_offset(std::string_view s);  // k, m, g suffixes
// ngx_parse_time: milliseconds when !seconds (no y/M units), else seconds.
std::optional<std::int64_t> parse_time(std::string_view s, bool seconds);

bool iequals(std::string_view a, std::string_view b);

}  // namespace ngxlite::ir
