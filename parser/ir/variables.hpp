// nginx's variables as a config's scripts read them: every built-in nginx 1.22.1 knows,
// and what each name a config reads turned out to be once it was loaded (nginx's
// ngx_http_variables_init_vars). A Template's variable part holds an index into its
// context's Variables: the runtime reads values by index and slot, never by name. The
// parser resolves them, since only it knows what defines a name (a `set` anywhere, a map,
// a regex's capture); the runtime places its getters by row of kBuiltinVariables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace ngxlite::ir {

struct BuiltinVariable {
    std::string_view name;  // a trailing '_' marks a prefix family such as "http_"
    std::string_view module;
};

#include "parser/ir/builtin_variables.inc"

// The first row of a built-in in kBuiltinVariables; not building names none.
consteval std::size_t builtin_row(std::string_view name) {
    for (std::size_t i = 0; i < std::size(kBuiltinVariables); ++i)
        if (kBuiltinVariables[i].name == name) return i;
    throw "not a variable of nginx 1.22.1";
}

// One name the scripts of http{} or stream{} read or assign, resolved at load time.
struct Variable {
    enum class Source : std::uint8_t {
        none,      // only an assignment gives it a value
        map,       // `index`: its map in the context's maps
        builtin,   // `index`: its row in kBuiltinVariables
        prefixed,  // `index`: its family's row ("http_"), `suffix` the rest ("user_agent")
    };
    std::string name;  // lowercase
    // `set` or a regex's named capture assigns it: the request's value, once assigned,
    // comes before the source.
    int slot = -1;
    Source source = Source::none;
    int index = -1;
    std::string suffix;
    bool empty_until_set = false;  // stream's `set`: found and empty until assigned (ngx_stream_set_var)
};

// nginx's cmcf->variables of one context: the names its Templates index.
struct Variables {
    std::vector<Variable> names;
    std::size_t slots = 0;  // the values a request may assign
};

}  // namespace ngxlite::ir
