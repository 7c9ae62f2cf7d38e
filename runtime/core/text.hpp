// ASCII case helpers for header names and hosts (HTTP compares these case-insensitively),
// and header lines appended to a block.
#pragma once

#include <charconv>
#include <string>
#include <string_view>

namespace ngxlite::runtime {

// ASCII only, inline: std::tolower is a locale-aware libc call per character.
constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

inline bool iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

// Appends "Name: value\r\n" to a header block, with no temporary strings.
inline void append_header(std::string& block, std::string_view name, std::string_view value) {
    block.append(name).append(": ").append(value).append("\r\n");
}

// Milliseconds as nginx prints times in seconds ("0.004", "12.345"), without printf; a
// clock stepped back gives 0, as nginx's ngx_max(ms, 0).
inline std::string seconds_text(long long ms) {
    if (ms < 0) ms = 0;
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf - 4, ms / 1000);
    const long long frac = ms % 1000;
    *end++ = '.';
    *end++ = static_cast<char>('0' + frac / 100);
    *end++ = static_cast<char>('0' + frac / 10 % 10);
    *end++ = static_cast<char>('0' + frac % 10);
    return std::string(buf, end);
}

// ngx_escape_uri's shape: each byte `escaped` says as %XX (upper-case hex), the rest as is.
template <class Escaped>
std::string percent_escape(std::string_view in, Escaped escaped) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const unsigned char c : in) {
        if (escaped(c)) {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

// Whether `needle` occurs in `haystack` in any case, as ngx_strlcasestrn.
inline bool icontains(std::string_view haystack, std::string_view needle) {
    if (needle.size() > haystack.size()) return false;
    for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i)
        if (iequal(haystack.substr(i, needle.size()), needle)) return true;
    return false;
}

// A byte as nginx's logs show a refused one ("%02xd" after "\\x"): "\x0d".
inline std::string hex_byte(char c) {
    static constexpr char digits[] = "0123456789abcdef";
    const auto b = static_cast<unsigned char>(c);
    return {'\\', 'x', digits[b >> 4], digits[b & 15]};
}

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = ascii_lower(c);
    return out;
}

}  // namespace ngxlite::runtime
