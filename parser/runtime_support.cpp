// Which directives ngxlite's runtime acts on today. Everything else is checked like
// nginx but recorded in ir::Config::unimplemented, so that the runtime can refuse to
// start or warn instead of silently behaving differently from nginx.
#include "parser/compiler.hpp"

#include <algorithm>

namespace ngxlite::conf {

bool runtime_implements(const DirectiveSpec& spec) {
    // The runtime (issue 3 onwards) fills this list as it learns each directive.
    static constexpr std::string_view implemented[] = {"include"};
    return std::find(std::begin(implemented), std::end(implemented), spec.name) != std::end(implemented);
}

}  // namespace ngxlite::conf
