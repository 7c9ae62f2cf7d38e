#include "parser/conf_tree.hpp"

namespace ngxlite::conf {

const Directive* Block::find(std::string_view name) const {
    for (auto it = directives.rbegin(); it != directives.rend(); ++it)
        if ((*it)->name() == name) return it->get();
    return nullptr;
}

std::vector<const Directive*> Block::find_all(std::string_view name) const {
    std::vector<const Directive*> out;
    for (const auto& d : directives)
        if (d->name() == name) out.push_back(d.get());
    return out;
}

}  // namespace ngxlite::conf
