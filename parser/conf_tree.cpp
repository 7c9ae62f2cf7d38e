#include "parser/conf_tree.hpp"

namespace ngxlite::conf {

Directive& Block::add(std::unique_ptr<Directive> d) {
    Directive& ref = *d;
    directives.push_back(std::move(d));
    by_name_[ref.name()].push_back(&ref);
    return ref;
}

const Directive* Block::find(DirectiveName name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second.back();
}

const std::vector<const Directive*>& Block::find_all(DirectiveName name) const {
    static const std::vector<const Directive*> none;
    auto it = by_name_.find(name);
    return it == by_name_.end() ? none : it->second;
}

}  // namespace ngxlite::conf
