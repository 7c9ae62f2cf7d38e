// A directive's name as the compiler's code asks a block for it: checked while building
// against nginx 1.22.1's directives (directive_names.inc), so a misspelled name is a
// compile error rather than a setting that silently keeps its default.
#pragma once

#include <algorithm>
#include <string_view>

namespace ngxlite::conf {

namespace detail {
#include "parser/directive_names.inc"

consteval bool is_nginx_directive(std::string_view name) {
    return std::binary_search(std::begin(kDirectiveNames), std::end(kDirectiveNames), name);
}
}  // namespace detail

class DirectiveName {
public:
    // A literal name: not one of nginx's directives does not compile (the throw cannot be
    // evaluated at compile time).
    consteval DirectiveName(const char* name) : name_(name) {
        if (!detail::is_nginx_directive(name_)) throw "not a directive of nginx 1.22.1";
    }
    // A name that comes from the config itself (a directive's own, a registry entry's).
    static constexpr DirectiveName from_config(std::string_view name) { return DirectiveName(name, 0); }

    constexpr operator std::string_view() const { return name_; }

private:
    constexpr DirectiveName(std::string_view name, int) : name_(name) {}
    std::string_view name_;
};

}  // namespace ngxlite::conf
