// Variables as nginx compiles them: references found in scripts ("$host", "${name}x"),
// names defined by set/map/geo/regex captures, and the load-time check that every
// referenced variable exists (`unknown "foo" variable`).
#pragma once

#include "parser/diagnostics.hpp"
#include "parser/ir/template.hpp"

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ngxlite::conf {

class ModuleSet;

// nginx's script syntax: "$name", "${name}", "$1".."$9" captures. Throws nginx's
// errors ("invalid variable name", "the closing bracket in ... is missing") at `where`.
ir::Template compile_template(std::string_view value, const SourceRef& where);

class VariableScope {
public:
    // `prefix` selects the built-in table: "ngx_http" or "ngx_stream".
    explicit VariableScope(std::string_view module_prefix) : module_prefix_(module_prefix) {}

    // Compiles a value nginx treats as a script and records the variables it reads.
    ir::Template template_of(std::string_view value, const SourceRef& where);
    // The same, when only the check matters. Returns whether it has variables.
    bool compile(std::string_view value, const SourceRef& where) {
        return template_of(value, where).has_variables();
    }
    void reference(std::string_view name);  // a "$name" a directive reads directly
    // set, map, geo, named captures, ...: nginx refuses to redefine a built-in variable
    // that is not changeable (`the duplicate "host" variable` at `where`).
    void define(std::string_view name, const ModuleSet& modules, const SourceRef& where);
    void define(std::string_view name);  // a name that never clashes (regex captures)

    // nginx's ngx_*_variables_init_vars: the first referenced name that nothing defines.
    void check(const ModuleSet& modules) const;

private:
    std::string module_prefix_;
    std::set<std::string> defined_;
    std::vector<std::string> referenced_;  // in first-reference order
};

// Whether a value contains a variable reference at all (nginx counts '$').
inline bool has_variables(std::string_view value) { return value.find('$') != std::string_view::npos; }

}  // namespace ngxlite::conf
