// Variables as nginx compiles them: references found in scripts ("$host", "${name}x"),
// names defined by set/map/geo/regex captures, the load-time check that every
// referenced variable exists (`unknown "foo" variable`), and what each name resolves to.
#pragma once

#include "parser/diagnostics.hpp"
#include "parser/ir/config.hpp"

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ngxlite::conf {

class ModuleSet;

class VariableScope {
public:
    // `prefix` selects the built-in table: "ngx_http" or "ngx_stream".
    explicit VariableScope(std::string_view module_prefix) : module_prefix_(module_prefix) {}

    // nginx's script syntax: "$name", "${name}", "$1".."$9" captures, each variable given
    // its index. Throws nginx's errors ("invalid variable name", "the closing bracket in
    // ... is missing") at `where`. Records the variables it reads for check().
    ir::Template template_of(std::string_view value, const SourceRef& where);
    // The same for a value its setter checked already, or one whose variables nginx does
    // not check: nothing is recorded for check().
    ir::Template unchecked_template(std::string_view value, const SourceRef& where);
    // The same, when only the check matters. Returns whether it has variables.
    bool compile(std::string_view value, const SourceRef& where) {
        return template_of(value, where).has_variables();
    }
    void reference(std::string_view name);  // a "$name" a directive reads directly
    // set, map, geo, named captures, ...: nginx refuses to redefine a built-in variable
    // that is not changeable (`the duplicate "host" variable` at `where`).
    void define(std::string_view name, const ModuleSet& modules, const SourceRef& where);
    void define(std::string_view name);  // a name that never clashes (regex captures)
    // A regex's named captures: defined, and given the slots their matches are kept in.
    void define_captures(ir::Regex& regex);
    // Only the slots (a regex its setter defined already, or one nginx's check ignores).
    void bind_captures(ir::Regex& regex);
    // The index of a variable `set` assigns, with a slot for its value.
    int assigned(std::string_view name);

    // nginx's ngx_*_variables_init_vars: the first referenced name that nothing defines.
    void check(const ModuleSet& modules) const;
    // And what each indexed name reads: a map of `maps`, a built-in, a prefix family.
    ir::Variables resolve(const std::vector<ir::Map>& maps) const;

private:
    ir::Template compile_template(std::string_view value, const SourceRef& where);
    int index_of(std::string_view name);
    int slot_of(int index);

    std::string module_prefix_;
    std::set<std::string> defined_;
    std::vector<std::string> referenced_;  // in first-reference order
    std::vector<ir::Variable> names_;      // every name indexed, with its slot
    std::size_t slots_ = 0;
};

// Whether a value contains a variable reference at all (nginx counts '$').
inline bool has_variables(std::string_view value) { return value.find('$') != std::string_view::npos; }

}  // namespace ngxlite::conf
