// The characters nginx's parsers (ngx_http_parse.c) tell apart, for the parsers in
// http_parse.cpp and http_parse_framing.cpp.
#pragma once

namespace ngxlite::runtime::http_chars {

constexpr char CR = '\r';
constexpr char LF = '\n';

// nginx's "usual" URI characters: those that need no second look. The others are
// controls, space, '#', '%', '+', '.', '/', '?' and DEL.
constexpr bool usual(unsigned char c) {
    return c > 0x20 && c != 0x7f && c != '#' && c != '%' && c != '+' && c != '.' && c != '/' && c != '?';
}

constexpr bool upper_letter(unsigned char c) { return c >= 'A' && c <= 'Z'; }
constexpr bool letter(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
constexpr bool digit(unsigned char c) { return c >= '0' && c <= '9'; }

// The value of a hex digit, or -1.
constexpr int hex_value(unsigned char c) {
    if (digit(c)) return c - '0';
    const unsigned char l = c | 0x20;
    return l >= 'a' && l <= 'f' ? l - 'a' + 10 : -1;
}

}  // namespace ngxlite::runtime::http_chars
