// ASCII case helpers for header names and hosts (HTTP compares these case-insensitively),
// and header lines appended to a block.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

inline bool iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    return true;
}

// Appends "Name: value\r\n" to a header block, with no temporary strings.
inline void append_header(std::string& block, std::string_view name, std::string_view value) {
    block.append(name).append(": ").append(value).append("\r\n");
}

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace ngxlite::runtime
